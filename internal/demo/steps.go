package demo

// DefaultSteps is the walkthrough of `make demo`, in order. Later procedures add
// their step here. The restore runs before the schedule, whose backups of the same
// database would otherwise make it wait its turn.
func DefaultSteps() []Step {
	return []Step{
		SeedStep(),
		BackupStep(),
		S3Step(),
		RestoreStep(),
		RotateStep(),
		ScheduleStep(),
	}
}
