"""The Milvus index backend (``Settings.index.backend == "milvus"``): Milvus Lite for a local file URI, a server by URL."""
