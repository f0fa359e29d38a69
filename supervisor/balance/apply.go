package balance

import "time"

// Apply records in s the state that acts leave behind (hot, writer full, weights,
// paused, shedding, retiring, host full, an even move under way) and the
// players seen, as the master does once it has carried them out, so the
// next Decide starts from it.
func Apply(s *Snapshot, acts []Action, now time.Time) {
	bySlot := map[int]*Worker{}
	for i := range s.Workers {
		bySlot[s.Workers[i].Slot] = &s.Workers[i]
	}
	if total := readyPlayers(s.Workers); abs(total-s.Host.Players) >= evenConns {
		s.Host.Players, s.Host.PlayersSince = total, now
	}
	for _, a := range acts {
		w := bySlot[a.Slot]
		switch a.Kind {
		case KindWeigh:
			for i := range s.Workers {
				if i < len(a.Weights) {
					s.Workers[i].Weight = a.Weights[i]
				}
			}
		case KindHostFull:
			s.Host.Full = true
		case KindHostOK:
			s.Host.Full = false
		case KindMove:
			s.Host.MovingUntil = now.Add(moveTime(a.N, a.PerSec))
		}
		if w == nil {
			continue
		}
		switch a.Kind {
		case KindHot:
			w.Hot, w.HotSince = true, now
		case KindCool:
			w.Hot = false
		case KindWriterFull:
			w.WriterFull = true
		case KindWriterOK:
			w.WriterFull = false
		case KindPause:
			w.Paused = true
		case KindResume:
			w.Paused = false
		case KindShed:
			w.Shedding = true
		case KindStopShed:
			w.Shedding = false
		case KindRetire:
			w.Retiring = true
		}
	}
}
