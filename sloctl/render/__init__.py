"""Pure renderers: model in, text out. No files, clocks or network here."""
