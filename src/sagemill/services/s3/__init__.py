"""The S3 API: buckets in the Store, objects behind the ObjectStore port."""
