"""The Chat panel's parts, one widget to a module; `ui/chat_view.ChatView` composes them and holds
what they share (the history, the engine's controller, the reply being written)."""
