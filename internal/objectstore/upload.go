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

package objectstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// maxParts is S3's limit on parts per multipart upload.
const maxParts = 10000

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

type part struct {
	num int32
	buf []byte
	n   int
}

// Upload streams r into key as a multipart upload. At most Concurrency parts are
// in flight and one more is being filled, so memory stays at (Concurrency+1) ×
// PartSize whatever the size of the stream. The upload is completed only when r
// returns io.EOF; any other outcome aborts it with a context that outlives ctx, so
// a cancelled (SIGTERM) run still cleans up.
func (s *S3) Upload(ctx context.Context, key string, r io.Reader) (info UploadInfo, err error) {
	return s.UploadThen(ctx, key, r, nil)
}

// UploadThen is Upload with beforeComplete run after the last part and before the
// upload is completed (see Store).
func (s *S3) UploadThen(ctx context.Context, key string, r io.Reader, beforeComplete func(UploadInfo) error) (info UploadInfo, err error) {
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:      aws.String(s.cfg.Bucket),
		Key:         aws.String(key),
		ContentType: aws.String("application/octet-stream"),
	})
	if err != nil {
		return info, s.wrap("upload", key, err)
	}
	uploadID := created.UploadId
	defer func() {
		if err != nil {
			err = s.abortUpload(ctx, key, uploadID, err)
		}
	}()

	uctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	u := &multipartUpload{s: s, key: key, uploadID: uploadID, ctx: uctx, cancel: cancel,
		pool: make(chan []byte, s.cfg.Concurrency+1), jobs: make(chan part)}
	for i := 0; i < s.cfg.Concurrency+1; i++ {
		u.pool <- nil // allocated on first use
	}
	for i := 0; i < s.cfg.Concurrency; i++ {
		u.wg.Add(1)
		go u.uploadParts()
	}
	num, size, readErr := u.feed(r)
	info.Size = size
	close(u.jobs)
	u.wg.Wait()
	if readErr != nil {
		return info, readErr
	}
	if cerr := context.Cause(uctx); cerr != nil {
		return info, cerr
	}
	completed := u.completed
	slices.SortFunc(completed, func(a, b types.CompletedPart) int { return int(*a.PartNumber - *b.PartNumber) })
	if len(completed) != int(num) {
		return info, fmt.Errorf("internal error: %d of %d parts uploaded", len(completed), num)
	}
	if beforeComplete != nil {
		if err = beforeComplete(UploadInfo{Size: info.Size, Parts: int(num)}); err != nil {
			return info, err
		}
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), UploadId: uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: completed},
	})
	if err != nil {
		return info, s.wrap("complete upload", key, err)
	}
	info.Parts = int(num)
	return info, nil
}

// abortUpload aborts the multipart upload that failed with err, with a context that
// outlives ctx so that a cancelled (SIGTERM) run still cleans up, and returns err
// with the abort's own failure, if any.
func (s *S3) abortUpload(ctx context.Context, key string, uploadID *string, err error) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, aerr := s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), UploadId: uploadID,
	})
	if aerr != nil && !IsNotFound(aerr) {
		return fmt.Errorf("%w; the incomplete multipart upload could not be aborted either (no object was created; a bucket lifecycle rule for incomplete uploads removes its parts): %v", err, s.wrap("abort", key, aerr))
	}
	return err
}

// multipartUpload is one running multipart upload: the parts being filled and
// uploaded, and the buffers they take turns with.
type multipartUpload struct {
	s        *S3
	key      string
	uploadID *string
	ctx      context.Context
	cancel   context.CancelCauseFunc
	pool     chan []byte // Concurrency+1 buffers, nil until first used
	jobs     chan part
	wg       sync.WaitGroup

	mu        sync.Mutex
	completed []types.CompletedPart
}

// uploadParts uploads the parts it is handed until jobs is closed; the first failure
// cancels the upload. Every buffer goes back to the pool.
func (u *multipartUpload) uploadParts() {
	defer u.wg.Done()
	for p := range u.jobs {
		if u.ctx.Err() == nil {
			out, perr := u.s.client.UploadPart(u.ctx, &s3.UploadPartInput{
				Bucket: aws.String(u.s.cfg.Bucket), Key: aws.String(u.key), UploadId: u.uploadID,
				PartNumber:    aws.Int32(p.num),
				Body:          bytes.NewReader(p.buf[:p.n]),
				ContentLength: aws.Int64(int64(p.n)),
			})
			if perr != nil {
				u.cancel(u.s.wrap("upload", u.key, perr))
			} else {
				u.mu.Lock()
				u.completed = append(u.completed, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(p.num)})
				u.mu.Unlock()
			}
		}
		u.pool <- p.buf
	}
}

// feed reads r into parts of PartSize and hands them to the uploaders until r ends,
// reading fails or the upload is cancelled. It returns the number of parts and bytes
// handed over (an empty stream is one empty part) and why reading failed.
func (u *multipartUpload) feed(r io.Reader) (num int32, size int64, err error) {
	for {
		var buf []byte
		select {
		case buf = <-u.pool:
		case <-u.ctx.Done():
		}
		select {
		case <-u.ctx.Done():
			return num, size, nil // why is context.Cause(u.ctx), which the caller reports
		default:
		}
		if buf == nil {
			buf = make([]byte, u.s.cfg.PartSize)
		}
		n, rerr := io.ReadFull(r, buf)
		eof := errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF)
		if rerr != nil && !eof {
			u.pool <- buf
			return num, size, rerr
		}
		if n > 0 || num == 0 {
			num++
			if num > maxParts {
				u.pool <- buf
				return num, size, fmt.Errorf("the stream exceeds %d parts of %d MiB; raise the part size", maxParts, u.s.cfg.PartSize>>20)
			}
			size += int64(n)
			select {
			case u.jobs <- part{num: num, buf: buf, n: n}:
			case <-u.ctx.Done():
				u.pool <- buf
			}
		} else {
			u.pool <- buf
		}
		if eof {
			return num, size, nil
		}
	}
}

// AbortIncomplete aborts the unfinished multipart uploads of exactly key.
func (s *S3) AbortIncomplete(ctx context.Context, key string) (int, error) {
	n := 0
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(s.cfg.Bucket), Prefix: aws.String(key)}
	for {
		out, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return n, s.wrap("list multipart uploads", key, err)
		}
		for _, u := range out.Uploads {
			if aws.ToString(u.Key) != key {
				continue
			}
			_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: aws.String(s.cfg.Bucket), Key: u.Key, UploadId: u.UploadId,
			})
			if err != nil && !IsNotFound(err) {
				return n, s.wrap("abort", key, err)
			}
			n++
		}
		if !aws.ToBool(out.IsTruncated) {
			return n, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}
