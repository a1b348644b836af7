"""Identity's writes and business rules, one module per topic."""
