"""Point-in-time feature pipelines (DuckDB SQL over the clean Parquet tables)."""
