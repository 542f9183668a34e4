"""The local backend's path into a TiKV cluster: PD and TiKV clients, the per-range import job
(split, scatter, write, ingest), import mode and the cluster's target.

Only the factories of the local backend import this package (it needs grpc)."""
