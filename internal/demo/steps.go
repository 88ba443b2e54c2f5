package demo

// DefaultSteps is the walkthrough of `make demo`, in order. Later procedures add
// their step here. The restore runs before the schedule, whose backups of the same
// database would otherwise make it wait its turn. The release runs last: its migration changes
// the database the other steps back up and restore; the incident step follows it (it
// shows the Incident the release's rollback opened). The alerts step, quick and
// independent of the others, comes after it; the status step shows what they all left.
func DefaultSteps() []Step {
	return []Step{
		SeedStep(),
		BackupStep(),
		S3Step(),
		RestoreStep(),
		RotateStep(),
		ScheduleStep(),
		ReleaseStep(),
		IncidentStep(),
		AlertsStep(),
		StatusStep(),
	}
}
