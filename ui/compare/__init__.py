"""Compare: one question to two models side by side, each column streamed like the chat."""
