"""Everyday subjects a theme can be named after, in German and English (the English name is what
the text tower reads, as "a photo of ..."; the German one is shown beside it)."""

from __future__ import annotations

from functools import cache

SUBJECTS: tuple[tuple[str, str], ...] = (
    # nature and landscapes
    ("Strand", "a beach"), ("Meer", "the sea"), ("Küste", "a coast"), ("See", "a lake"), ("Fluss", "a river"),
    ("Wasserfall", "a waterfall"), ("Berge", "mountains"), ("Gipfel", "a mountain summit"), ("Gletscher", "a glacier"),
    ("Wald", "a forest"), ("Wiese", "a meadow"), ("Feld", "a field"), ("Wüste", "a desert"), ("Dünen", "sand dunes"),
    ("Insel", "an island"), ("Höhle", "a cave"), ("Vulkan", "a volcano"), ("Felsen", "rocks"), ("Tal", "a valley"),
    ("Sonnenuntergang", "a sunset"), ("Sonnenaufgang", "a sunrise"), ("Himmel", "the sky"), ("Wolken", "clouds"),
    ("Gewitter", "a thunderstorm"), ("Regenbogen", "a rainbow"), ("Nebel", "fog"), ("Schnee", "snow"),
    ("Eis", "ice"), ("Regen", "rain"), ("Sterne", "stars at night"), ("Mond", "the moon"), ("Nacht", "a night scene"),
    ("Blumen", "flowers"), ("Rosen", "roses"), ("Tulpen", "tulips"), ("Sonnenblumen", "sunflowers"), ("Bäume", "trees"),
    ("Herbstlaub", "autumn leaves"), ("Kaktus", "a cactus"), ("Pilze", "mushrooms"), ("Garten", "a garden"),
    ("Park", "a park"), ("Palmen", "palm trees"), ("Gras", "grass"), ("Moos", "moss"),
    # animals
    ("Hund", "a dog"), ("Katze", "a cat"), ("Pferd", "a horse"), ("Kuh", "a cow"), ("Schaf", "a sheep"),
    ("Ziege", "a goat"), ("Schwein", "a pig"), ("Huhn", "a chicken"), ("Vogel", "a bird"), ("Möwe", "a seagull"),
    ("Ente", "a duck"), ("Schwan", "a swan"), ("Eule", "an owl"), ("Adler", "an eagle"), ("Papagei", "a parrot"),
    ("Fisch", "a fish"), ("Hai", "a shark"), ("Delfin", "a dolphin"), ("Wal", "a whale"), ("Schildkröte", "a turtle"),
    ("Frosch", "a frog"), ("Schlange", "a snake"), ("Eidechse", "a lizard"), ("Schmetterling", "a butterfly"),
    ("Biene", "a bee"), ("Libelle", "a dragonfly"), ("Spinne", "a spider"), ("Käfer", "a beetle"),
    ("Eichhörnchen", "a squirrel"), ("Hase", "a rabbit"), ("Fuchs", "a fox"), ("Reh", "a deer"), ("Bär", "a bear"),
    ("Wolf", "a wolf"), ("Löwe", "a lion"), ("Tiger", "a tiger"), ("Elefant", "an elephant"), ("Giraffe", "a giraffe"),
    ("Zebra", "a zebra"), ("Affe", "a monkey"), ("Pinguin", "a penguin"), ("Kamel", "a camel"), ("Insekten", "insects"),
    # people
    ("Porträt", "a portrait of a person"), ("Selfie", "a selfie"), ("Gruppenfoto", "a group photo"),
    ("Kinder", "children"), ("Baby", "a baby"), ("Familie", "a family"), ("Paar", "a couple"), ("Hochzeit", "a wedding"),
    ("Menschenmenge", "a crowd of people"), ("Tanz", "people dancing"), ("Konzert", "a concert"), ("Bühne", "a stage"),
    ("Sport", "people doing sport"), ("Fußball", "football"), ("Tennis", "tennis"), ("Radfahren", "cycling"),
    ("Laufen", "running"), ("Schwimmen", "swimming"), ("Skifahren", "skiing"), ("Surfen", "surfing"),
    ("Klettern", "climbing"), ("Wandern", "hiking"), ("Yoga", "yoga"), ("Angeln", "fishing"), ("Camping", "camping"),
    # food and drink
    ("Essen", "food"), ("Frühstück", "breakfast"), ("Brot", "bread"), ("Kuchen", "cake"), ("Torte", "a layered cake"),
    ("Kekse", "cookies"), ("Pizza", "pizza"), ("Nudeln", "pasta"), ("Salat", "a salad"), ("Suppe", "soup"),
    ("Obst", "fruit"), ("Äpfel", "apples"), ("Erdbeeren", "strawberries"), ("Gemüse", "vegetables"),
    ("Fleisch", "meat"), ("Grillen", "a barbecue"), ("Sushi", "sushi"), ("Burger", "a burger"), ("Eiscreme", "ice cream"),
    ("Käse", "cheese"), ("Kaffee", "coffee"), ("Tee", "tea"), ("Wein", "wine"), ("Bier", "beer"),
    ("Cocktail", "a cocktail"), ("Restaurant", "a restaurant"), ("Küche", "a kitchen"), ("Markt", "a market"),
    # places and buildings
    ("Stadt", "a city"), ("Skyline", "a city skyline"), ("Straße", "a street"), ("Gasse", "an alley"),
    ("Platz", "a town square"), ("Brücke", "a bridge"), ("Turm", "a tower"), ("Kirche", "a church"),
    ("Dom", "a cathedral"), ("Burg", "a castle"), ("Schloss", "a palace"), ("Ruine", "ruins"), ("Tempel", "a temple"),
    ("Moschee", "a mosque"), ("Museum", "a museum"), ("Denkmal", "a monument"), ("Statue", "a statue"),
    ("Hochhaus", "a skyscraper"), ("Haus", "a house"), ("Bauernhof", "a farm"), ("Hütte", "a cabin"),
    ("Hafen", "a harbour"), ("Leuchtturm", "a lighthouse"), ("Bahnhof", "a railway station"), ("Flughafen", "an airport"),
    ("Baustelle", "a construction site"), ("Fabrik", "a factory"), ("Büro", "an office"), ("Klassenzimmer", "a classroom"),
    ("Bibliothek", "a library"), ("Laden", "a shop"), ("Hotel", "a hotel"), ("Schwimmbad", "a swimming pool"),
    ("Spielplatz", "a playground"), ("Friedhof", "a cemetery"), ("Zoo", "a zoo"), ("Wohnzimmer", "a living room"),
    ("Schlafzimmer", "a bedroom"), ("Badezimmer", "a bathroom"), ("Treppe", "a staircase"), ("Fenster", "a window"),
    ("Tür", "a door"), ("Mauer", "a wall"), ("Graffiti", "graffiti"), ("Innenraum", "an interior"),
    # vehicles and travel
    ("Auto", "a car"), ("Oldtimer", "a vintage car"), ("Lastwagen", "a truck"), ("Bus", "a bus"),
    ("Straßenbahn", "a tram"), ("Zug", "a train"), ("Fahrrad", "a bicycle"), ("Motorrad", "a motorcycle"),
    ("Flugzeug", "an aeroplane"), ("Hubschrauber", "a helicopter"), ("Schiff", "a ship"), ("Boot", "a boat"),
    ("Segelboot", "a sailing boat"), ("Kajak", "a kayak"), ("Traktor", "a tractor"), ("Wohnmobil", "a camper van"),
    ("Koffer", "luggage"), ("Landkarte", "a map"), ("Verkehr", "traffic"), ("Parkplatz", "a car park"),
    # objects and things
    ("Dokumente", "a document"), ("Quittung", "a receipt"), ("Rechnung", "an invoice"), ("Brief", "a letter"),
    ("Notizen", "handwritten notes"), ("Buch", "a book"), ("Zeitung", "a newspaper"), ("Bildschirmfoto", "a screenshot"),
    ("Diagramm", "a chart or diagram"), ("Tafel", "a whiteboard"), ("Schild", "a sign"), ("Plakat", "a poster"),
    ("Ausweis", "an identity card"), ("Ticket", "a ticket"), ("Computer", "a computer"), ("Laptop", "a laptop"),
    ("Handy", "a mobile phone"), ("Kamera", "a camera"), ("Fernseher", "a television"), ("Kabel", "cables"),
    ("Werkzeug", "tools"), ("Möbel", "furniture"), ("Stuhl", "a chair"), ("Tisch", "a table"), ("Bett", "a bed"),
    ("Lampe", "a lamp"), ("Uhr", "a clock"), ("Spielzeug", "toys"), ("Teddybär", "a teddy bear"), ("Ball", "a ball"),
    ("Musikinstrument", "a musical instrument"), ("Gitarre", "a guitar"), ("Klavier", "a piano"), ("Trommel", "a drum"),
    ("Kleidung", "clothes"), ("Schuhe", "shoes"), ("Hut", "a hat"), ("Brille", "glasses"), ("Schmuck", "jewellery"),
    ("Tasche", "a bag"), ("Flaschen", "bottles"), ("Gläser", "glasses for drinking"), ("Geschirr", "dishes"),
    ("Kerzen", "candles"), ("Geschenke", "presents"), ("Luftballons", "balloons"), ("Fahne", "a flag"),
    ("Kunst", "a work of art"), ("Gemälde", "a painting"), ("Zeichnung", "a drawing"), ("Skulptur", "a sculpture"),
    ("Muster", "a pattern"), ("Textur", "a texture"), ("Abstrakt", "an abstract image"), ("Hintergrundbild", "a wallpaper"),
    # events and seasons
    ("Weihnachten", "Christmas"), ("Weihnachtsbaum", "a Christmas tree"), ("Ostern", "Easter"), ("Silvester", "fireworks"),
    ("Geburtstag", "a birthday party"), ("Party", "a party"), ("Feier", "a celebration"), ("Karneval", "a carnival"),
    ("Festival", "a festival"), ("Ausstellung", "an exhibition"), ("Demonstration", "a demonstration"),
    ("Urlaub", "a holiday"), ("Sommer", "summer"), ("Winter", "winter"), ("Herbst", "autumn"), ("Frühling", "spring"),
)  # fmt: skip


@cache
def subject_words() -> frozenset[str]:
    """Every word of the subjects, German and English, folded ("regen", "berge", "snow"): words
    that describe what pictures show, so the one search box never reads them as a town's name
    unless a preposition says so ("Regen" is also a town in Bavaria)."""
    from image_recommender.catalog.words import fold

    articles = {"a", "an", "the", "of", "at", "in", "on", "with", "and", "der", "die", "das", "mit", "und"}
    return frozenset(
        word
        for german, english in SUBJECTS
        for word in fold(f"{german} {english}").replace("(", " ").replace(")", " ").split()
        if len(word) >= 3 and word not in articles
    )
