-- Uses of the public pages' forms, for rate limits shared by all
-- replicas; rows older than a day are pruned as new ones come.
CREATE TABLE form_posts (
    id     {{serial}},
    bucket TEXT   NOT NULL,
    at     BIGINT NOT NULL
);
CREATE INDEX form_posts_bucket_at ON form_posts (bucket, at);
