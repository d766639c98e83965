package pixpool

import "time"

// Policy is the storage policy the admins set for every user: default
// quotas, how long the trash keeps deleted images, and whether originals
// are kept for their owners. It lives in the store as the setting
// PolicySetting (JSON), so every replica applies the same one; a missing
// setting is DefaultPolicy.
type Policy struct {
	// QuotaBytes and QuotaImages are the default quotas of a user whose
	// own are not set: the bytes their images take in the blob store
	// (each file counted: served bytes, thumbnails, kept originals,
	// variants, the trash; identical images once) and how many images
	// they may have (the trash included). 0 means no limit.
	QuotaBytes  int64 `json:"quota_bytes"`
	QuotaImages int64 `json:"quota_images"`
	// TrashDays is how long a deleted image stays in the trash, where its
	// owner can restore it, before it is purged. 0 deletes at once.
	TrashDays int `json:"trash_days"`
	// KeepOriginals keeps, for uploads from then on, the bytes as
	// uploaded beside the copy stripped of metadata that is served, and
	// lets their owner download them. Off by default: the metadata
	// (camera, time, GPS position) is then gone for good once stripped.
	KeepOriginals bool `json:"keep_originals"`
}

// PolicySetting names the setting holding the Policy as JSON.
const PolicySetting = "storage.policy"

// DefaultPolicy is the policy until an admin sets one: no quotas, a
// 30-day trash, originals not kept.
var DefaultPolicy = Policy{TrashDays: 30}

// MaxTrashDays bounds Policy.TrashDays (ten years).
const MaxTrashDays = 3650

// Validate checks p's values, with errors an admin can act on (EINVALID).
func (p Policy) Validate() error {
	switch {
	case p.QuotaBytes < 0:
		return Errorf(EINVALID, "The default byte quota must be 0 (no limit) or more.")
	case p.QuotaImages < 0:
		return Errorf(EINVALID, "The default image quota must be 0 (no limit) or more.")
	case p.TrashDays < 0 || p.TrashDays > MaxTrashDays:
		return Errorf(EINVALID, "The trash must keep images between 0 (delete at once) and %d days.", MaxTrashDays)
	}
	return nil
}

// TrashFor returns how long the trash keeps an image under p.
func (p Policy) TrashFor() time.Duration { return time.Duration(p.TrashDays) * 24 * time.Hour }
