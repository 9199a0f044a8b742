"""memorag's HTTP service (`memorag serve`): stores, documents, jobs, asks and an OpenAI-compatible chat API.

Laid out after vLLM's OpenAI-compatible entrypoint: one folder per endpoint group, each with `protocol.py` (the
pydantic requests and responses), `serving.py` (the logic) and `api_router.py` (thin routes); `app.py` builds the
FastAPI app (`build_app`) apart from the state it serves (`state.py`, opened in the app's lifespan), and every
failure leaves as one error envelope (`envelope.py`). FastAPI is imported only inside this package, and this
package only by `memorag serve`. docs/server.md is the user's guide.
"""

from memorag.server.settings import ServerSettings

__all__ = ["ServerSettings"]
