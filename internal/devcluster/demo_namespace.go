package devcluster

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"runbook-operator/test/harness"
)

func (c *Cluster) setupDemo(ctx context.Context) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: DemoNamespace}}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	endpoints := map[string]string{}
	if c.Postgres != nil {
		if err := c.demoDatabase(ctx, c.Postgres, DemoDBSecret); err != nil {
			return err
		}
		endpoints["dbHost"] = c.Postgres.Host
		endpoints["dbPort"] = fmt.Sprint(c.Postgres.Port)
		endpoints["dbName"] = DemoDatabase
	}
	if c.Postgres17 != nil {
		if err := c.demoDatabase(ctx, c.Postgres17, DemoDB17Secret); err != nil {
			return fmt.Errorf("PostgreSQL 17: %w", err)
		}
		endpoints["db17Host"] = c.Postgres17.Host
		endpoints["db17Port"] = fmt.Sprint(c.Postgres17.Port)
	}
	if c.S3 != nil {
		if err := c.S3.CreateBucket(ctx, DemoBucket); err != nil && !strings.Contains(err.Error(), "BucketAlready") {
			return fmt.Errorf("create bucket %s: %w", DemoBucket, err)
		}
		if err := c.applySecret(ctx, DemoS3Secret, map[string]string{
			"AWS_ACCESS_KEY_ID":     c.S3.AccessKey,
			"AWS_SECRET_ACCESS_KEY": c.S3.SecretKey,
		}); err != nil {
			return err
		}
		endpoints["s3Endpoint"] = c.S3.Endpoint
		endpoints["s3Region"] = c.S3.Region
		endpoints["s3Bucket"] = DemoBucket
	}
	if c.Redis != nil {
		if err := c.applySecret(ctx, DemoRedisSecret, map[string]string{
			"REDIS_URL":      c.Redis.URL(0),
			"REDIS_HOST":     c.Redis.Host,
			"REDIS_PORT":     fmt.Sprint(c.Redis.Port),
			"REDIS_PASSWORD": c.Redis.Password,
		}); err != nil {
			return err
		}
		endpoints["redisHost"] = c.Redis.Host
		endpoints["redisPort"] = fmt.Sprint(c.Redis.Port)
	}
	if c.SaaSTags != nil {
		if err := c.createSecretOnce(ctx, DemoAppSecret, SaaSSecrets()); err != nil {
			return err
		}
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: DemoConfigMap, Namespace: DemoNamespace}, Data: endpoints}
	if _, err := c.Client.CoreV1().ConfigMaps(DemoNamespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// demoDatabase creates the demo database on pg and the Secret that reaches it.
func (c *Cluster) demoDatabase(ctx context.Context, pg *harness.Postgres, secret string) error {
	conn, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+DemoDatabase)
	_ = conn.Close(ctx)
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		return fmt.Errorf("create database %s: %w", DemoDatabase, err)
	}
	return c.applySecret(ctx, secret, map[string]string{
		"host":     pg.Host,
		"port":     fmt.Sprint(pg.Port),
		"dbname":   DemoDatabase,
		"user":     pg.User,
		"password": pg.Password,
		"sslmode":  "disable",
	})
}

// demoSecret is the demo namespace's Secret name holding data.
func demoSecret(name string, data map[string]string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: DemoNamespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "devcluster"}},
		Type:       corev1.SecretTypeOpaque,
		StringData: data,
	}
}

// applySecret creates the Secret or replaces its data: the endpoints and passwords of
// this run's servers.
func (c *Cluster) applySecret(ctx context.Context, name string, data map[string]string) error {
	s := demoSecret(name, data)
	_, err := c.Client.CoreV1().Secrets(DemoNamespace).Create(ctx, s, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = c.Client.CoreV1().Secrets(DemoNamespace).Update(ctx, s, metav1.UpdateOptions{})
	}
	return err
}

// createSecretOnce creates a Secret unless it exists: generated keys are never
// replaced.
func (c *Cluster) createSecretOnce(ctx context.Context, name string, data map[string]string) error {
	_, err := c.Client.CoreV1().Secrets(DemoNamespace).Create(ctx, demoSecret(name, data), metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}
