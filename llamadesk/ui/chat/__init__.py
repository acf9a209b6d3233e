"""The Chat panel's parts, one to a module: its widgets, and the objects that do its work behind
them (the model session, the send/reply cycle, the conversation actions, the token counter).
`ui/chat_view.ChatView` composes them and holds what they share (the history, the engine's
controller, the conversation on screen)."""
