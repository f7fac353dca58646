"""Retention job and data-subject rights: pseudonymise, redact, delete (crypto-shredding), export, erase."""
