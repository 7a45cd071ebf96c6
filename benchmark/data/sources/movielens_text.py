"""Profile texts for MovieLens-100K, standing in for the LM-written profiles of the paper.

Item profile: title, release year and genres. User profile: demographics plus the favourite genres
and best-rated titles of the user's TRAINING interactions only, so nothing from the validation or
test split can leak into the text a model sees (`user_profiles` receives every interaction with
its split label and drops all but train itself; tests check the result is a function of train).
"""
from __future__ import annotations

import re

import numpy as np

from benchmark.data.splits import TRAIN

_TRAILING_ARTICLE = re.compile(
    r"^(?P<head>.+), (?P<article>The|A|An|Il|La|Le|Les|L'|Das|Der|Die|El)(?P<tail>\s*\(.*\))?$")
_GENRE_WORDS = {"Film-Noir": "film-noir", "Sci-Fi": "sci-fi", "Children's": "children's", "unknown": ""}
_OCCUPATION_NOUNS = {"none": None, "other": None, "homemaker": "homemaker", "retired": "retiree"}
FAVOURITE_GENRES = 3
FAVOURITE_TITLES = 3


def readable_title(title: str) -> str:
    """MovieLens writes 'Usual Suspects, The'; a profile reads better as 'The Usual Suspects'."""
    match = _TRAILING_ARTICLE.match(title.strip())
    if not match:
        return title.strip()
    article = match["article"]
    joiner = "" if article.endswith("'") else " "
    return f"{article}{joiner}{match['head']}{match['tail'] or ''}"


def genre_word(genre: str) -> str:
    return _GENRE_WORDS.get(genre, genre.lower())


def english_list(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def titled(title: str, year: str) -> str:
    return f"{readable_title(title)} ({year})" if year else readable_title(title)


def item_profile(title: str, year: str, genres: list[str]) -> str:
    """e.g. 'The Usual Suspects (1995): a crime and thriller film.'"""
    words = [w for w in (genre_word(g) for g in genres) if w]
    kind = f"{'an' if words and words[0][0] in 'aeiou' else 'a'} {english_list(words)} film" if words else "a film"
    return f"{titled(title, year)}: {kind}."


def with_article(phrase: str) -> str:
    """'a' or 'an' by sound: 'an 18-year-old', 'an engineer', 'a 24-year-old'."""
    vowel_sound = phrase[:1].lower() in "aeiou" or re.match(r"(8|11-|18-)", phrase) is not None
    return f"{'An' if vowel_sound else 'A'} {phrase}"


def _person(age: str, gender: str, occupation: str) -> tuple[str, str]:
    """('A 24-year-old male technician', 'He')."""
    pronoun = {"M": "He", "F": "She"}.get(gender, "They")
    age_part = f"{age}-year-old " if age else ""
    noun = _OCCUPATION_NOUNS.get(occupation, occupation)
    if noun is None:
        return with_article(age_part + {"M": "man", "F": "woman"}.get(gender, "person")), pronoun
    adjective = {"M": "male ", "F": "female "}.get(gender, "")
    return with_article(f"{age_part}{adjective}{noun}"), pronoun


def user_profile(age: str, gender: str, occupation: str, liked: list[tuple[str, list[str], float]]) -> str:
    """A short profile from demographics and `liked` = [(title with year, genres, rating)] of TRAIN items.

    Genres are weighted by how much the user liked each film (rating - 2: 1, 2, 3 for 3, 4, 5
    stars); the favourite titles are the best rated, ties broken by their order in `liked`.
    """
    person, pronoun = _person(age, gender, occupation)
    weights: dict[str, float] = {}
    for _, genres, rating in liked:
        for genre in genres:
            if genre_word(genre):
                weights[genre] = weights.get(genre, 0.0) + (rating - 2.0)
    top_genres = [genre_word(g) for g, _ in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:FAVOURITE_GENRES]]
    order = sorted(range(len(liked)), key=lambda k: -liked[k][2])[:FAVOURITE_TITLES]
    titles = [liked[k][0] for k in order]
    parts = [f"{person}."]
    if top_genres:
        verb = "enjoy" if pronoun == "They" else "enjoys"
        parts.append(f"{pronoun} mostly {verb} {english_list(top_genres)} films")
        parts[-1] += f", with favourites such as {english_list(titles)}." if titles else "."
    return " ".join(parts)


def user_profiles(users: np.ndarray, items: np.ndarray, ratings: np.ndarray, labels: np.ndarray,
                  n_users: int, demographics: list[tuple[str, str, str]],
                  item_titles: list[str], item_genres: list[list[str]]) -> list[str]:
    """Profile of every user (contiguous ids 0..n_users-1) from the TRAIN-labelled interactions only.

    users, items, ratings, labels: (n_interactions,) arrays over all splits; demographics[u] =
    (age, gender, occupation); item_titles[i] already carries the year, e.g. 'Fargo (1996)'.
    """
    train = labels == TRAIN
    users, items, ratings = users[train], items[train], ratings[train]
    order = np.lexsort((items, users))
    liked: list[list] = [[] for _ in range(n_users)]
    for k in order:
        liked[users[k]].append((item_titles[items[k]], item_genres[items[k]], float(ratings[k])))
    return [user_profile(*demographics[u], liked[u]) for u in range(n_users)]
