"""The chat page: the controller that sends, stops, regenerates and edits; the composer, the
conversation view and the sidebar with its list, search and export."""
