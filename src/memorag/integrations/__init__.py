"""Retrievers for other frameworks over a memorag store: LangChain (`memorag.integrations.langchain`, extra
`memorag[langchain]`) and LlamaIndex (`memorag.integrations.llamaindex`, extra `memorag[llamaindex]`).

Each hands back the evidence `MemoRAG.ask(question, mode, top_k, max_new_tokens=0)` finds, in its order, as the
framework's documents. Importing this package imports neither framework; each module imports its own.
"""
