package demo

// DefaultSteps is the walkthrough of `make demo`, in order. Later procedures add
// their step here (a restore after "s3" can use Env.Backup and compare with
// Env.Seeded).
func DefaultSteps() []Step {
	return []Step{
		SeedStep(),
		BackupStep(),
		S3Step(),
		ScheduleStep(),
	}
}
