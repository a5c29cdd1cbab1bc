"""URLs in the fetch layer (fetch.urls): credentials in a query string or userinfo are masked."""



from leadrank.extractors.fetch.urls import redact_url


def test_secrets_in_urls_are_redacted():
    assert redact_url("https://api.example.com/s?q=x&api_key=SECRET123") == "https://api.example.com/s?q=x&api_key=***"
    assert "hunter2" not in redact_url("https://user:hunter2@example.com/a")
