"""The throwaway PostgreSQL cluster tests use; it lives in bench/ because benchmarks need it too."""

from bench.postgres import PostgresCluster, available, postgres_cluster

__all__ = ["PostgresCluster", "available", "postgres_cluster"]
