package backup

import (
	"context"
	"time"

	"github.com/pixpool/pixpool"
)

// Run takes the scheduled backups until ctx ends, checking every minute
// (every, if positive). Every replica may run it: the lease and the check
// made under it let one of them take each day's backup.
func (s *Service) Run(ctx context.Context, every time.Duration) {
	s.init()
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.Tick(ctx); err != nil && ctx.Err() == nil && pixpool.ErrorCode(err) != pixpool.ECONFLICT {
			s.logger().Error("scheduled backup", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick takes the scheduled backup if one is due and returns it (nil if
// none was due). One is due when the latest scheduled time of day has
// passed since the last scheduled backup was attempted (good or failed: a
// failed one is not retried until the next day, and shows in the portal). On a new
// install, the first is the first scheduled time after the service
// started; after that, a time missed while no server ran is caught up.
func (s *Service) Tick(ctx context.Context) (*Info, error) {
	s.init()
	due, err := s.due(ctx)
	if err != nil || due.IsZero() {
		return nil, err
	}
	var info *Info
	err = s.lease(ctx, func(ctx context.Context) error {
		// Again under the lease: another replica may have just taken it.
		if again, err := s.due(ctx); err != nil || again.IsZero() {
			return err
		}
		// Noted first: a failed attempt is not retried until the next day.
		if err := s.Store.SetSetting(ctx, settingLastScheduled, s.now().Format(time.RFC3339Nano)); err != nil {
			return err
		}
		var err error
		info, err = s.create(ctx, TriggerSchedule, "")
		return err
	})
	return info, err
}

// due returns the scheduled time whose backup is due, or zero.
func (s *Service) due(ctx context.Context) (time.Time, error) {
	cfg, err := s.Config(ctx)
	if err != nil {
		return time.Time{}, err
	}
	sched, err := ParseSchedule(cfg.Schedule)
	if err != nil || sched == "off" {
		return time.Time{}, nil // an unreadable schedule is off; SetConfig refuses them
	}
	at, _ := time.Parse("15:04", sched)
	now := s.now()
	due := time.Date(now.Year(), now.Month(), now.Day(), at.Hour(), at.Minute(), 0, 0, time.UTC)
	if due.After(now) {
		due = due.AddDate(0, 0, -1)
	}
	if v, err := s.Store.Setting(ctx, settingLastScheduled); err == nil {
		if last, err := time.Parse(time.RFC3339Nano, v); err == nil {
			if last.Before(due) {
				return due, nil
			}
			return time.Time{}, nil
		}
	} else if pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		return time.Time{}, err
	}
	if due.Before(s.started) {
		return time.Time{}, nil
	}
	return due, nil
}
