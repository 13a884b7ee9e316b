package fleet

import (
	"testing"
	"time"
)

// The limiter's promise, held exactly on a virtual clock: under demand
// that never lets up, the requests it admits never number more than the
// rate in any one-second window, and a run takes about requests / (rate
// less the burst): 1.05 × requests / rate from 20 a second up, 1.11 × at
// the default 10, twice at 1 or 2. (The end-to-end tests count arrivals
// at the stand-in, which lag admissions by the signing and the loopback
// hop.)
func TestLimiterBound(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, rps := range []float64{1, 2, 10, 19, 20, 50, 60, 100, 1000} {
		l := Limiter(rps)
		n := int(rps * 10) // ten seconds of demand
		at := make([]time.Time, n)
		now := start
		for i := range at {
			now = now.Add(l.ReserveN(now, 1).DelayFrom(now))
			at[i] = now
		}
		j, most := 0, 0
		for i := range at {
			for at[i].Sub(at[j]) >= time.Second {
				j++
			}
			most = max(most, i-j+1)
		}
		if most > int(rps) {
			t.Errorf("rps %v: %d admitted in one one-second window", rps, most)
		}
		burst := max(1, int(rps/20))
		if took, bound := at[n-1].Sub(start).Seconds(), float64(n)/max(rps-float64(burst), rps/2); took > bound {
			t.Errorf("rps %v: %d requests took %.2f s, more than %.2f s", rps, n, took, bound)
		}
	}
}
