"""How an answer is shown: the message widget, its reasoning trace and banners, the Markdown
and math of its text, and the stream that turns engine events into them. Shared by the chat
and Compare; it imports neither."""
