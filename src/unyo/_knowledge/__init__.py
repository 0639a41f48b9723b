"""Answers from your documents, with citations, and a refusal when the documents don't say.

    _read      a file or URL -> Blocks (headings, paragraphs, list items, table rows, pages)
    _fetch     a URL -> bytes: http/https only, private addresses refused, timeout, size cap
    _page      a URL -> its main text (fetch + read), for a task over a page (`run summarize --url`)
    _chunk     Blocks -> Chunks that follow the structure (Japanese sentence ends respected)
    _terms     text -> keyword terms (CJK character bigrams + words) for the full-text index
    _embed     the knowledge base's embedder: the bundled e5 model, or a provider's via the guarded client
    _index     SQLite storage: documents, chunks, vectors, an FTS5 keyword index (UNYO_HOME/knowledge.db)
    _pg_index  the same in PostgreSQL (UNYO_DB_URL=postgresql://): pgvector HNSW + full text (GIN)
    _ingest    add / remove sources, incremental by content hash, one transaction per document
    _search    hybrid retrieval: dense + keyword, fused by reciprocal rank (RRF)
    _rerank    optional: the model picks the relevant passages out of the top 8
    _answer    numbered passages -> prompt -> answer with checked citations, or a refusal
    _hosted    hosted bases: the provider's vector store, synced from local files by content hash
    _hosted_answer  file_search / web_search answers, their annotations mapped to the same citations

It sits above `_quality` (it asks through the same flows) and below `_jobs`.
"""
