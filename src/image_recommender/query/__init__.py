"""What a query means beyond its vector: the words it asks the text in pictures for."""
