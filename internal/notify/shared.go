package notify

import (
	"context"
	"fmt"
	"time"
)

// SharedThrottle holds throttle keys and event ids for every replica (in the
// gateway: dedup.Leases, a Lease per key in the API server), so that N
// replicas send one notification per key and id within an interval.
//
// Claim returns held (non-zero: another replica holds key until then), or a
// claim of this replica (err nil) with release to give it up when the
// delivery fails, or err when no decision could be made: the event is then
// delivered anyway.
type SharedThrottle interface {
	Claim(ctx context.Context, key string, d time.Duration) (held time.Time, release func(), err error)
}

// sharedTimeout bounds the claims of one event for one team; the
// SharedThrottle bounds each claim too.
const sharedTimeout = 5 * time.Second

// sharedClaim is one team's outcome of the shared claims of an event.
type sharedClaim struct {
	reason   string // suppressedDuplicate or suppressedThrottled when another replica holds a key
	note     string // why, for the answer
	releases []func()
}

func (c *sharedClaim) release() {
	if c == nil {
		return
	}
	for _, r := range c.releases {
		r()
	}
	c.releases = nil
}

// sharedClaims are the claims of one event, by team.
type sharedClaims map[string]*sharedClaim

func (cs sharedClaims) releaseAll() {
	for _, c := range cs {
		c.release()
	}
}

// claimShared claims, for each team whose keys this replica does not hold
// already, the event's id (unless generated here) and then its throttle key
// across replicas. It runs before the local checks and queueing, outside
// acceptMu: claims are API calls. A team whose key another replica holds is
// suppressed; an id claimed before a held key is released again, as the
// local throttle holds no id for a throttled event.
func (s *Server) claimShared(ev *event, generatedID bool, now time.Time) sharedClaims {
	if s.o.Shared == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	out := sharedClaims{}
	for _, name := range ev.Teams {
		if !s.throttle.held(eventKey(ev, name), now).IsZero() || (!generatedID && !s.throttle.held(idKey(ev.ID, name), now).IsZero()) {
			continue // suppressed by the local throttle, no need to ask
		}
		iv := interval(s.teams[name].team, s.pol)
		c := &sharedClaim{}
		out[name] = c
		if !generatedID {
			until, rel, err := s.o.Shared.Claim(ctx, idKey(ev.ID, name), iv)
			if err == nil && !until.IsZero() {
				c.reason = suppressedDuplicate
				c.note = fmt.Sprintf("team %s: duplicate id %q within the interval (sent by another replica)", name, ev.ID)
				continue
			}
			if rel != nil {
				c.releases = append(c.releases, rel)
			}
		}
		until, rel, err := s.o.Shared.Claim(ctx, eventKey(ev, name), iv)
		if err == nil && !until.IsZero() {
			c.release()
			c.reason = suppressedThrottled
			c.note = fmt.Sprintf("team %s: throttled, one notification per %s for this object and condition (sent by another replica; next after %s)",
				name, iv, until.UTC().Format(time.RFC3339))
			continue
		}
		if rel != nil {
			c.releases = append(c.releases, rel)
		}
	}
	return out
}
