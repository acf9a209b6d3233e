"""The local OpenAI-compatible server: the user's other tools (editors, notebooks, scripts on the
same computer) chat with the library's models and adapters through the API they already speak.

`host` keeps one model loaded for every client and gives them turns; `stop_strings` cuts replies at
the client's stop sequences; `openai_api` is the HTTP side (starlette, served by uvicorn)."""
