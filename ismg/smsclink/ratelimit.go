package smsclink

import "golang.org/x/time/rate"

// newLimiter builds the link's rate cap. Callers reserve with the link's
// clock (ReserveN(now, 1)), so tests drive it with a fake clock; rate 0
// means no cap.
func newLimiter(r float64, burst int) *rate.Limiter {
	if r <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(r), max(burst, 1))
}
