// Test helper: real XGBoost, LightGBM, CatBoost and scikit-learn models fitted and saved with joblib by the
// model-families environment (.venv-families, scripts/setup-families-python.sh), each beside what its own library
// predicts for some rows of its data set.
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..", "..");

/** The python of the environment that holds XGBoost, LightGBM, CatBoost, onnxmltools and onnxruntime. */
export const FAMILIES_PYTHON = join(ROOT, ".venv-families", "bin", "python");

/** What a model's own library answered for sample rows of its data set. */
export type FamilyCase = {
  task: "classification" | "regression";
  /** "matrix": rows of floats for one input; "columns": one list of values per DataFrame column. */
  layout: "matrix" | "columns";
  rows: number[][] | Record<string, (string | number)[]>;
  /** ONNX input types by column (layout "columns"). */
  columnTypes?: Record<string, "string" | "int64" | "float32">;
  labels?: (number | string)[];
  probabilities?: number[][];
  values?: number[];
};

const SCRIPT = String.raw`
import json, os, sys, warnings
import joblib
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_diabetes, load_iris, make_classification
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import RandomizedSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.semi_supervised import LabelSpreading
from catboost import CatBoostClassifier, CatBoostRegressor
from lightgbm import LGBMClassifier, LGBMRegressor
from xgboost import XGBClassifier, XGBRegressor

warnings.simplefilter("ignore")
out = sys.argv[1]
ROWS = 16
Xb, yb = make_classification(n_samples=400, n_features=8, n_informative=5, random_state=0)
Xi, yi = load_iris(return_X_y=True)
species = np.array(["setosa", "versicolor", "virginica"])[yi]
Xd, yd = load_diabetes(return_X_y=True)
cb = dict(iterations=60, verbose=0, allow_writing_files=False, thread_count=1, random_seed=0)
cases = {}

def save(name, model, extra=None):
    os.makedirs(os.path.join(out, name), exist_ok=True)
    joblib.dump(model, os.path.join(out, name, "model.joblib"))
    if extra is not None:
        cases[name] = extra

def matrix(name, model, X):
    rows = X[:ROWS].astype(np.float32)
    case = {"layout": "matrix", "rows": rows.tolist()}
    if hasattr(model, "predict_proba"):
        case["task"] = "classification"
        case["labels"] = np.asarray(model.predict(rows)).reshape(-1).tolist()
        case["probabilities"] = np.asarray(model.predict_proba(rows)).tolist()
    else:
        case["task"] = "regression"
        case["values"] = np.asarray(model.predict(rows), dtype=np.float64).reshape(-1).tolist()
    save(name, model, case)

matrix("xgboost-binary", XGBClassifier(n_estimators=40, max_depth=4).fit(Xb, yb), Xb)
matrix("xgboost-multiclass", XGBClassifier(n_estimators=40, max_depth=3).fit(Xi, yi), Xi)
matrix("xgboost-regressor", XGBRegressor(n_estimators=60, max_depth=4).fit(Xd, yd), Xd)
matrix("xgboost-in-pipeline", make_pipeline(StandardScaler(), XGBClassifier(n_estimators=40)).fit(Xi, yi), Xi)
matrix("lightgbm-binary", LGBMClassifier(n_estimators=40, verbose=-1).fit(Xb, yb), Xb)
matrix("lightgbm-multiclass", LGBMClassifier(n_estimators=40, min_child_samples=5, verbose=-1).fit(Xi, species), Xi)
matrix("lightgbm-regressor", LGBMRegressor(n_estimators=60, verbose=-1).fit(Xd, yd), Xd)
matrix("lightgbm-in-pipeline", make_pipeline(StandardScaler(), LGBMRegressor(n_estimators=60, verbose=-1)).fit(Xd, yd), Xd)
matrix("catboost-binary", CatBoostClassifier(**cb).fit(Xb, yb), Xb)
matrix("catboost-multiclass", CatBoostClassifier(**cb).fit(Xi, species), Xi)
matrix("catboost-regressor", CatBoostRegressor(**cb).fit(Xd, yd), Xd)
matrix("dummy-prior", DummyClassifier(strategy="prior").fit(Xi, species), Xi)
matrix("dummy-most-frequent", DummyClassifier(strategy="most_frequent").fit(Xb, yb), Xb)
matrix("dummy-constant", DummyClassifier(strategy="constant", constant=2).fit(Xi, yi), Xi)
matrix("dummy-mean", DummyRegressor(strategy="mean").fit(Xd, yd), Xd)
matrix("dummy-quantile", DummyRegressor(strategy="quantile", quantile=0.25).fit(Xd, yd), Xd)
search = RandomizedSearchCV(make_pipeline(StandardScaler(), LGBMClassifier(verbose=-1)), {"lgbmclassifier__n_estimators": [20, 40], "lgbmclassifier__num_leaves": [7, 15]}, n_iter=2, cv=2, random_state=0)
matrix("randomized-search", search.fit(Xb, yb), Xb)
matrix("sklearn-pipeline", make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(Xi, yi), Xi)

# A DataFrame of reviews: free text, a city, a whole number of rooms, two numbers, and a column the model drops.
rng = np.random.default_rng(0)
n = 400
words = "good bad great awful fine poor excellent terrible okay nice slow quick".split()
reviews = pd.DataFrame({
    "review": [" ".join(rng.choice(words, size=int(rng.integers(2, 7)))) for _ in range(n)],
    "city": rng.choice(["paris", "rome", "oslo", "lima"], n),
    "rooms": rng.integers(1, 5, n),
    "nights": rng.integers(1, 15, n).astype(float),
    "price": rng.normal(120.0, 40.0, n),
    "note": rng.choice(["x", "y"], n),
})
liked = ((reviews.review.str.contains("good|great|excellent")) ^ (reviews.city == "oslo") ^ (reviews.rooms == 2)).astype(int)
spend = reviews.price * reviews.nights + np.where(reviews.city == "rome", 50.0, 0.0) + 20.0 * reviews.rooms

def columns(name, last, y):
    prep = ColumnTransformer([
        ("words", TfidfVectorizer(), "review"),
        ("categories", OneHotEncoder(handle_unknown="ignore"), ["city", "rooms"]),
        ("numbers", StandardScaler(), ["nights", "price"]),
    ], remainder="drop")
    model = Pipeline([("prep", prep), ("model", last)]).fit(reviews, y)
    rows = reviews.iloc[:ROWS]
    case = {
        "layout": "columns",
        "rows": {"review": rows.review.tolist(), "city": rows.city.tolist(), "rooms": rows.rooms.tolist(), "nights": rows.nights.astype(np.float32).tolist(), "price": rows.price.astype(np.float32).tolist()},
        "columnTypes": {"review": "string", "city": "string", "rooms": "int64", "nights": "float32", "price": "float32"},
    }
    exact = rows.copy()
    exact["nights"] = rows.nights.astype(np.float32).astype(float)
    exact["price"] = rows.price.astype(np.float32).astype(float)
    if hasattr(model, "predict_proba"):
        case["task"] = "classification"
        case["labels"] = model.predict(exact).tolist()
        case["probabilities"] = model.predict_proba(exact).tolist()
    else:
        case["task"] = "regression"
        case["values"] = model.predict(exact).tolist()
    save(name, model, case)

columns("columns-logistic", LogisticRegression(max_iter=1000), liked)
columns("columns-ridge", Ridge(), spend)

# Models that cannot be converted.
save("label-spreading-in-pipeline", Pipeline([("scale", StandardScaler()), ("spread", LabelSpreading())]).fit(Xi, yi))
save("dummy-uniform", DummyClassifier(strategy="uniform").fit(Xi, yi))
booking = pd.DataFrame({"price": rng.normal(size=n), "city": rng.choice(["paris", "rome"], n)})
save("catboost-categorical", CatBoostClassifier(**cb, cat_features=["city"]).fit(booking, liked))

class Threshold(ClassifierMixin, BaseEstimator):
    """A model class written in the notebook: pickled by reference to the notebook's __main__."""
    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self
    def predict(self, X):
        return (np.asarray(X)[:, 0] > 0).astype(int)

save("notebook-class", Threshold().fit(Xb, yb))

with open(os.path.join(out, "cases.json"), "w") as f:
    json.dump(cases, f)
`;

/**
 * Fit every model under `dir` (`<dir>/<name>/model.joblib`) and return the cases that convert, by name. Throws when
 * .venv-families is missing ("run scripts/setup-families-python.sh") or the script fails (with its stderr).
 */
export async function makeFamilyModels(dir: string): Promise<Record<string, FamilyCase>> {
  if (!existsSync(FAMILIES_PYTHON)) throw new Error(`no Python environment at ${FAMILIES_PYTHON}: run scripts/setup-families-python.sh first`);
  const proc = Bun.spawn([FAMILIES_PYTHON, "-c", SCRIPT, dir], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`${FAMILIES_PYTHON} -c <models script> exited ${code}:\n${err.trim() || out.trim()}`);
  return (await Bun.file(join(dir, "cases.json")).json()) as Record<string, FamilyCase>;
}
