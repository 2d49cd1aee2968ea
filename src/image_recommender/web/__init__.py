"""The local web app: ``create_app(library)`` returns the FastAPI application."""
