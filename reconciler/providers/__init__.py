"""Providers: the only code that talks to Google, GitHub and GCP."""
