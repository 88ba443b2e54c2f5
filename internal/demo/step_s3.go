package demo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"runbook-operator/internal/agent"
)

// S3Step shows that the backup's dump and manifest really are in the bucket and
// that the dump's checksum is the one in the backup's status.
func S3Step() Step {
	return Step{
		Name: "s3", Title: "Find the dump in S3 and check it", Needs: []string{"backup"},
		Run: checkS3,
	}
}

func checkS3(ctx context.Context, e *Env) error {
	b := e.Backup
	key := b.Status.Key
	e.Out.Say(`The dump is an ordinary object in the bucket, so any S3 tool reads it. This lists the
backup's folder on the devcluster's S3 server (versitygw at %s), downloads the dump and
recomputes its SHA-256.`, e.S3Endpoint)
	dir := path.Dir(key) + "/"
	e.Out.Command("aws s3 ls --recursive s3://%s/%s", e.Bucket, dir)
	objects, err := ListObjects(ctx, e.S3, e.Bucket, dir)
	if err != nil {
		return err
	}
	e.Out.Block(objects.String())
	if !objects.Has(key) || !objects.Has(agent.ManifestKey(key)) {
		return fmt.Errorf("s3://%s/%s or its manifest is missing from the bucket", e.Bucket, key)
	}

	e.Out.Command("aws s3 cp s3://%s/%s - | sha256sum", e.Bucket, key)
	size, sum, err := ObjectSHA256(ctx, e.S3, e.Bucket, key)
	if err != nil {
		return err
	}
	e.Out.Block(sum + "  -")
	if sum != b.Status.SHA256 {
		return fmt.Errorf("the dump's SHA-256 is %s, the backup's status says %s", sum, b.Status.SHA256)
	}
	if size != b.Status.SizeBytes {
		return fmt.Errorf("the dump has %d bytes, the backup's status says %d", size, b.Status.SizeBytes)
	}
	e.Out.Check("the SHA-256 matches status.sha256 and the size, %s, matches status.sizeBytes", Bytes(size))

	m, err := ReadManifest(ctx, e.S3, e.Bucket, agent.ManifestKey(key))
	if err != nil {
		return err
	}
	e.Out.Say("The manifest beside it says what the dump holds (row counts are PostgreSQL's estimates):")
	e.Out.Fields(
		"database", m.Database,
		"PostgreSQL", m.ServerVersion+" (pg_dump "+m.PgDumpVersion+")",
		"format", m.Format+", compressed with "+m.Compression,
		"size", Bytes(m.UncompressedBytes)+" uncompressed, "+Bytes(m.SizeBytes)+" stored",
		"taken", m.StartTime.UTC().Format("2006-01-02 15:04:05")+" UTC in "+m.EndTime.Sub(m.StartTime).Round(time.Millisecond).String(),
	)
	counts := map[string]int64{}
	for _, t := range m.Tables {
		counts[t.Schema+"."+t.Name] = t.Rows
	}
	e.Out.Block(FormatCounts(counts))
	if m.SHA256 != b.Status.SHA256 {
		return fmt.Errorf("the manifest's SHA-256 %s differs from the backup's %s", m.SHA256, b.Status.SHA256)
	}
	return nil
}

// Objects is a listing of a bucket prefix.
type Objects []S3Object

// S3Object is one listed object.
type S3Object struct {
	Key      string
	Size     int64
	Modified string
}

// Has reports whether key is listed.
func (o Objects) Has(key string) bool {
	for _, x := range o {
		if x.Key == key {
			return true
		}
	}
	return false
}

// String prints the listing like `aws s3 ls --recursive`.
func (o Objects) String() string {
	if len(o) == 0 {
		return "(no objects)"
	}
	var b strings.Builder
	for _, x := range o {
		fmt.Fprintf(&b, "%s %10d %s\n", x.Modified, x.Size, x.Key)
	}
	return b.String()
}

// ListObjects lists the objects under prefix.
func ListObjects(ctx context.Context, c *s3.Client, bucket, prefix string) (Objects, error) {
	var out Objects
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, x := range page.Contents {
			o := S3Object{Key: aws.ToString(x.Key), Size: aws.ToInt64(x.Size)}
			if x.LastModified != nil {
				o.Modified = x.LastModified.Local().Format("2006-01-02 15:04:05")
			}
			out = append(out, o)
		}
	}
	return out, nil
}

// ObjectSHA256 downloads an object and returns its size and hex SHA-256.
func ObjectSHA256(ctx context.Context, c *s3.Client, bucket, key string) (int64, string, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return 0, "", fmt.Errorf("download s3://%s/%s: %w", bucket, key, err)
	}
	defer func() { _ = out.Body.Close() }()
	h := sha256.New()
	n, err := io.Copy(h, out.Body)
	if err != nil {
		return 0, "", fmt.Errorf("download s3://%s/%s: %w", bucket, key, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// ReadManifest downloads and decodes a dump's manifest.
func ReadManifest(ctx context.Context, c *s3.Client, bucket, key string) (*agent.Manifest, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("download s3://%s/%s: %w", bucket, key, err)
	}
	defer func() { _ = out.Body.Close() }()
	m := &agent.Manifest{}
	if err := json.NewDecoder(io.LimitReader(out.Body, 1<<20)).Decode(m); err != nil {
		return nil, fmt.Errorf("decode the manifest s3://%s/%s: %w", bucket, key, err)
	}
	return m, nil
}

// ObjectExists reports whether the object exists.
func ObjectExists(ctx context.Context, c *s3.Client, bucket, key string) (bool, error) {
	_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err == nil {
		return true, nil
	}
	var nf interface{ ErrorCode() string }
	if errors.As(err, &nf) && (nf.ErrorCode() == "NotFound" || nf.ErrorCode() == "NoSuchKey") {
		return false, nil
	}
	return false, fmt.Errorf("head s3://%s/%s: %w", bucket, key, err)
}
