from image_recommender.cli import main

main()
