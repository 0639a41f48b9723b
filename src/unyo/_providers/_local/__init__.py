"""The bundled local model: llama.cpp in-process, served through an httpx2 transport so that
the openai SDK — and therefore every pipeline step — treats it like any other endpoint."""
