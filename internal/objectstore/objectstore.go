/*
Copyright 2026.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Package objectstore keeps backup objects in S3 or an S3-compatible store behind a
// small interface: streaming multipart uploads with bounded memory that are aborted
// on any failure, resumable downloads, and errors a person can act on.
package objectstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Store reads and writes the objects of one bucket.
type Store interface {
	// Upload streams r into key as a multipart upload and completes it only when r
	// ends with io.EOF; on any error (including r's) the upload is aborted and no
	// object is created.
	Upload(ctx context.Context, key string, r io.Reader) (UploadInfo, error)
	// UploadThen is Upload that calls beforeComplete once every part is stored and
	// before the upload is completed; an error from it aborts the upload. A process
	// killed before completion leaves no object (only parts AbortIncomplete removes).
	UploadThen(ctx context.Context, key string, r io.Reader, beforeComplete func(UploadInfo) error) (UploadInfo, error)
	// AbortIncomplete aborts every unfinished multipart upload of exactly key (left by
	// a killed process) and returns how many it aborted.
	AbortIncomplete(ctx context.Context, key string) (int, error)
	// Put writes a small object in one request.
	Put(ctx context.Context, key string, data []byte, contentType string) error
	// Get returns the object's content, resuming after transient read errors.
	Get(ctx context.Context, key string) (io.ReadCloser, int64, error)
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Exists reports whether key exists.
	Exists(ctx context.Context, key string) (bool, error)
}

// UploadInfo describes a completed upload.
type UploadInfo struct {
	Size  int64
	Parts int
}

// Config selects the bucket and how to reach it. Credentials come from the AWS
// default chain: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY first, then web identity
// (IRSA), shared config and instance metadata.
type Config struct {
	Bucket    string
	Endpoint  string // for S3-compatible stores; empty means AWS
	Region    string // empty: AWS_REGION, else us-east-1
	PathStyle bool
	// PartSize is the multipart part size in bytes (default 8 MiB; minimum 5 MiB).
	PartSize int64
	// Concurrency is the number of parts uploaded at once (default 4). Upload
	// holds at most Concurrency+1 parts in memory.
	Concurrency int
	// MaxAttempts per request for transient errors (default AWS_MAX_ATTEMPTS, else 6).
	MaxAttempts int
}

// S3 is a Store on one S3 bucket.
type S3 struct {
	client *s3.Client
	cfg    Config
}

var _ Store = (*S3)(nil)

// New builds an S3 store. It does not contact the server.
func New(ctx context.Context, cfg Config) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("no bucket given")
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = 8 << 20
	}
	if cfg.PartSize < 5<<20 {
		return nil, fmt.Errorf("part size %d is below the S3 minimum of 5 MiB", cfg.PartSize)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 6
		if n, err := strconv.Atoi(os.Getenv("AWS_MAX_ATTEMPTS")); err == nil && n > 0 {
			cfg.MaxAttempts = n
		}
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = cfg.MaxAttempts
				o.MaxBackoff = 5 * time.Second
			})
		}),
		// Checksums only where S3 requires them: many S3-compatible stores reject
		// the newer trailing checksum headers, and the dump carries its own SHA-256.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
	})
	return &S3{client: client, cfg: cfg}, nil
}

// Bucket returns the bucket name.
func (s *S3) Bucket() string { return s.cfg.Bucket }

// Put writes a small object in one request.
func (s *S3) Put(ctx context.Context, key string, data []byte, contentType string) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.cfg.Bucket),
		Key:           aws.String(key),
		Body:          bytesReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   aws.String(contentType),
	})
	return s.wrap("write", key, err)
}

// Delete removes key; a missing key is not an error.
func (s *S3) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)})
	if err != nil && IsNotFound(err) && !isNoSuchBucket(err) {
		return nil
	}
	return s.wrap("delete", key, err)
}

// Exists reports whether key exists.
func (s *S3) Exists(ctx context.Context, key string) (bool, error) {
	_, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)})
	if err == nil {
		return true, nil
	}
	if status := httpStatus(err); status == http.StatusNotFound || status == http.StatusForbidden {
		// A HEAD answer has no body, so it cannot say which error it is: a missing
		// key or bucket, an unknown access key (404 on some stores) or a wrong
		// secret key. A GET's answer names it.
		out, gerr := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)})
		if gerr == nil {
			_ = out.Body.Close()
			return true, nil
		}
		err = gerr
	}
	if IsNotFound(err) && !isNoSuchBucket(err) {
		return false, nil
	}
	return false, s.wrap("read", key, err)
}

// Get returns the object's content. Reads that fail part-way are resumed with a
// ranged request from the current offset (up to MaxAttempts times in a row).
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)})
	if err != nil {
		return nil, 0, s.wrap("read", key, err)
	}
	size := aws.ToInt64(out.ContentLength)
	return &resumingReader{ctx: ctx, s: s, key: key, body: out.Body, size: size, etag: aws.ToString(out.ETag)}, size, nil
}

type resumingReader struct {
	ctx      context.Context
	s        *S3
	key      string
	body     io.ReadCloser
	size     int64
	off      int64
	etag     string
	failures int
}

func (r *resumingReader) Read(p []byte) (int, error) {
	for {
		n, err := r.body.Read(p)
		r.off += int64(n)
		if err == nil || (err == io.EOF && r.off >= r.size) {
			if n > 0 {
				r.failures = 0
			}
			return n, err
		}
		if n > 0 {
			return n, nil // report the error on the next call
		}
		if r.ctx.Err() != nil {
			return 0, r.ctx.Err()
		}
		r.failures++
		if r.failures >= r.s.cfg.MaxAttempts {
			return 0, fmt.Errorf("reading s3://%s/%s at byte %d: %w", r.s.cfg.Bucket, r.key, r.off, err)
		}
		_ = r.body.Close()
		time.Sleep(time.Duration(r.failures) * 500 * time.Millisecond)
		in := &s3.GetObjectInput{
			Bucket: aws.String(r.s.cfg.Bucket), Key: aws.String(r.key),
			Range: aws.String(fmt.Sprintf("bytes=%d-", r.off)),
		}
		if r.etag != "" {
			in.IfMatch = aws.String(r.etag) // never splice two versions together
		}
		out, gerr := r.s.client.GetObject(r.ctx, in)
		if gerr != nil {
			r.body = io.NopCloser(errReader{r.s.wrap("read", r.key, gerr)})
			continue
		}
		r.body = out.Body
	}
}

func (r *resumingReader) Close() error { return r.body.Close() }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// Error is a classified S3 failure with a message a person can act on.
type Error struct {
	Op, Bucket, Key string
	Code            string // S3 error code, if any
	Permanent       bool
	Hint            string
	Err             error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("S3 %s s3://%s/%s failed", e.Op, e.Bucket, e.Key)
	if e.Hint != "" {
		msg += ": " + e.Hint
	}
	if d := e.detail(); d != "" {
		msg += " (" + d + ")"
	}
	return msg
}

// detail is what the store answered (code, HTTP status, message) or why it could
// not be reached, without the SDK's operation name and request and host IDs: they
// help nobody reading a condition and push the cause out of view.
func (e *Error) detail() string {
	if e.Err == nil {
		return e.Code
	}
	var apiErr smithy.APIError
	if errors.As(e.Err, &apiErr) {
		d := apiErr.ErrorCode()
		if m := apiErr.ErrorMessage(); m != "" && m != d {
			d += ": " + m
		}
		if status := httpStatus(e.Err); status != 0 {
			d = fmt.Sprintf("HTTP %d, %s", status, d)
		}
		return d
	}
	if status := httpStatus(e.Err); status != 0 {
		return fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
	}
	var sendErr *smithyhttp.RequestSendError
	if errors.As(e.Err, &sendErr) && sendErr.Err != nil {
		cause := sendErr.Err
		var urlErr *url.Error
		if errors.As(cause, &urlErr) && urlErr.Err != nil {
			cause = urlErr.Err // the URL repeats bucket and key, with the upload ID
		}
		d := cause.Error()
		var maxErr *retry.MaxAttemptsError
		if errors.As(e.Err, &maxErr) {
			d += fmt.Sprintf(", after %d attempts", maxErr.Attempt)
		}
		return d
	}
	var opErr *smithy.OperationError
	if errors.As(e.Err, &opErr) && opErr.Err != nil {
		return requestIDs.ReplaceAllString(opErr.Err.Error(), "")
	}
	return requestIDs.ReplaceAllString(e.Err.Error(), "")
}

// requestIDs matches the IDs an S3 response error prints, for errors of a shape
// detail does not know.
var requestIDs = regexp.MustCompile(`(RequestID|HostID): [^,]*, `)

func httpStatus(err error) int {
	var respErr interface{ HTTPStatusCode() int }
	if errors.As(err, &respErr) {
		return respErr.HTTPStatusCode()
	}
	return 0
}

func (e *Error) Unwrap() error { return e.Err }

func (s *S3) wrap(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	e := &Error{Op: op, Bucket: s.cfg.Bucket, Key: key, Err: err}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		e.Code = apiErr.ErrorCode()
	}
	status := httpStatus(err)
	switch {
	case e.Code == "InvalidAccessKeyId" || e.Code == "XAdminUserNotFound":
		e.Permanent, e.Hint = true, "the access key ID is not known to the store; check AWS_ACCESS_KEY_ID in the credentials Secret"
	case e.Code == "SignatureDoesNotMatch":
		e.Permanent, e.Hint = true, "the secret access key does not match the access key ID; check AWS_SECRET_ACCESS_KEY in the credentials Secret"
	case e.Code == "ExpiredToken" || e.Code == "InvalidToken":
		e.Permanent, e.Hint = true, "the session token is expired or invalid; check the service account's IAM role"
	case e.Code == "AccessDenied" || status == http.StatusForbidden:
		e.Permanent, e.Hint = true, "access denied; the credentials lack permission on this bucket or key (s3:PutObject, s3:GetObject, s3:DeleteObject, s3:AbortMultipartUpload)"
	case isNoSuchBucket(err):
		e.Permanent, e.Hint = true, fmt.Sprintf("bucket %q does not exist; create it or fix the bucket name", s.cfg.Bucket)
	case e.Code == "NoSuchKey" || e.Code == "NotFound" || status == http.StatusNotFound:
		e.Permanent, e.Hint = true, "the object does not exist"
	case e.Code == "InvalidBucketName":
		e.Permanent, e.Hint = true, fmt.Sprintf("%q is not a valid bucket name", s.cfg.Bucket)
	case e.Code == "PermanentRedirect" || e.Code == "AuthorizationHeaderMalformed":
		e.Permanent, e.Hint = true, "the bucket is in another region; set the region to the bucket's"
	default:
		var oe *smithy.OperationError
		if errors.As(err, &oe) && status == 0 && e.Code == "" {
			e.Hint = "could not reach the S3 endpoint (retried); check the endpoint URL and the network"
		}
	}
	return e
}

func isNoSuchBucket(err error) bool {
	var nb *types.NoSuchBucket
	if errors.As(err, &nb) {
		return true
	}
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchBucket"
}

// IsNotFound reports whether err means the key, bucket or multipart upload does not
// exist. A 404 with another code is not: some stores answer an unknown access key so.
func IsNotFound(err error) bool {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchBucket", "NoSuchUpload":
			return true
		}
		return false
	}
	return httpStatus(err) == http.StatusNotFound
}

// IsPermanent reports whether retrying err cannot help.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}
