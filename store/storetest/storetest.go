// Package storetest is the conformance suite for pixpool.Store. Every
// implementation runs it, unchanged, from its own tests:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) pixpool.Store { ... })
//	}
//
// Beyond the contracts written in pixpool.Store, the suite pins down these
// choices, which every backend must make alike:
//   - PutImage replaces a row in place: the ID stays, and the returned row
//     is the old one with that same ID.
//   - Operations on one missing row (UpdateUser, SetPasswordHash,
//     TouchAPIKey, DeleteAPIKey, DeleteImage) are ENOTFOUND, like lookups.
//   - Listings page with Offset and Limit, and Limit 0 means no limit.
//   - ImportTables names a row it refuses "<table> row <n>:", n counting
//     that table's rows from 1.
package storetest

import (
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// Run runs the suite, one subtest per behaviour. open returns a new, empty
// store for each subtest (two for Backup/Copy) and arranges, with
// t.Cleanup, to close it.
func Run(t *testing.T, open func(t *testing.T) pixpool.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s pixpool.Store)
	}{
		{"Ping", testPing},

		{"CreateUser", testCreateUser},
		{"CreateUser/Conflict", testCreateUserConflict},
		{"User/NotFound", testUserNotFound},
		{"UserByUsername", testUserByUsername},
		{"UpdateUser", testUpdateUser},
		{"UpdateUser/Conflict", testUpdateUserConflict},
		{"Users", testUsers},
		{"CountAdmins", testCountAdmins},
		{"PasswordHash", testPasswordHash},

		{"Session", testSession},
		{"DeleteSession", testDeleteSession},
		{"DeleteUserSessions", testDeleteUserSessions},
		{"DeleteExpiredSessions", testDeleteExpiredSessions},

		{"APIKey", testAPIKey},
		{"APIKeys", testAPIKeys},
		{"TouchAPIKey", testTouchAPIKey},
		{"DeleteAPIKey", testDeleteAPIKey},
		{"AuthGeneration", testAuthGeneration},

		{"PutImage", testPutImage},
		{"PutImage/Replace", testPutImageReplace},
		{"PutImage/Owners", testPutImageOwners},
		{"PutImage/Concurrent", testPutImageConcurrent},
		{"Image/KeyCase", testImageKeyCase},
		{"Image/OddKeys", testImageOddKeys},
		{"Images/Order", testImagesOrder},
		{"Images/Prefix", testImagesPrefix},
		{"Images/Paging", testImagesPaging},
		{"Images/Newest", testImagesNewest},
		{"DeleteImage", testDeleteImage},
		{"DeleteAllImages", testDeleteAllImages},
		{"ImageBlobKeys", testImageBlobKeys},
		{"Image/Privacy", testImagePrivacy},

		{"Variant", testVariant},
		{"VariantsOf", testVariantsOf},
		{"DeleteVariants", testDeleteVariants},
		{"VariantBlobKeys", testVariantBlobKeys},

		{"Setting", testSetting},
		{"Settings", testSettings},
		{"AddSetting", testAddSetting},
		{"AddSetting/Concurrent", testAddSettingConcurrent},
		{"SetupToken", testSetupToken},
		{"SetupToken/Ends", testSetupTokenEnds},
		{"SetupToken/Concurrent", testSetupTokenConcurrent},
		{"Attempts", testAttempts},
		{"Attempts/Concurrent", testAttemptsConcurrent},
		{"Invites", testInvites},

		{"Lease", testLease},
		{"Lease/Expiry", testLeaseExpiry},
		{"Lease/Concurrent", testLeaseConcurrent},

		{"CertFile", testCertFile},
		{"CertFiles", testCertFiles},
		{"CertFiles/Restore", testCertFilesRestore},

		{"Stats", testStats},
		{"Stats/Retention", testStatsRetention},

		{"Analysis", testAnalysis},
		{"Analysis/Failed", testAnalysisFailed},
		{"Analysis/ClaimOrder", testAnalysisClaimOrder},
		{"Analysis/Lease", testAnalysisLease},
		{"Analysis/Concurrent", testAnalysisConcurrent},
		{"Analysis/EnqueueResets", testAnalysisEnqueueResets},
		{"SearchImages", testSearchImages},
		{"SearchImages/Owner", testSearchImagesOwner},

		{"Share", testShare},
		{"Shares", testShares},
		{"RevokeShare", testRevokeShare},
		{"ViewShare", testViewShare},
		{"ViewShare/Concurrent", testViewShareConcurrent},
		{"Share/Restore", testShareRestore},

		{"Backup/Export", testBackupExport},
		{"Backup/ExportError", testBackupExportError},
		{"Backup/Snapshot", testBackupSnapshot},
		{"Backup/RoundTrip", testBackupRoundTrip},
		{"Backup/IDs", testBackupIDs},
		{"Backup/Keep", testBackupKeep},
		{"Backup/Empty", testBackupEmpty},
		{"Backup/Rollback", testBackupRollback},
		{"Backup/BadRows", testBackupBadRows},
	}
	tests = append(tests, quotaTests()...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
	t.Run("Backup/Copy", func(t *testing.T) { testBackupCopy(t, open) })
	runTrash(t, open)
}

func testPing(t *testing.T, s pixpool.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping()=%v", err)
	}
}

// wantCode fails t unless err carries code.
func wantCode(t *testing.T, op string, err error, code string) {
	t.Helper()
	if got := pixpool.ErrorCode(err); got != code {
		t.Fatalf("%s: ErrorCode(%v)=%q, want %q", op, err, got, code)
	}
}

// checkTime fails t unless got is want in UTC, to the millisecond. A zero
// want asks for a zero got.
func checkTime(t *testing.T, name string, got, want time.Time) {
	t.Helper()
	if want.IsZero() {
		if !got.IsZero() {
			t.Fatalf("%s=%v, want zero", name, got)
		}
		return
	}
	if got.Location() != time.UTC {
		t.Fatalf("%s=%v, want it in UTC", name, got)
	}
	if d := got.Sub(want).Abs(); d >= time.Millisecond {
		t.Fatalf("%s=%v, want %v", name, got, want.UTC())
	}
}

// checkBetween fails t unless got is in UTC and between lo and hi, give or
// take the millisecond a store may round to.
func checkBetween(t *testing.T, name string, got, lo, hi time.Time) {
	t.Helper()
	if got.Location() != time.UTC {
		t.Fatalf("%s=%v, want it in UTC", name, got)
	}
	if got.Before(lo.Add(-time.Millisecond)) || got.After(hi.Add(time.Millisecond)) {
		t.Fatalf("%s=%v, want between %v and %v", name, got, lo.UTC(), hi.UTC())
	}
}

// zone is a time zone other than UTC, to check that stores return UTC.
var zone = time.FixedZone("UTC+5:30", 5*3600+1800)
