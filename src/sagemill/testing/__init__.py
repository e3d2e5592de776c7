"""Test helpers shipped with the package: a live server for API tests, contract suites."""
