// How the model page's buttons call their actions.

/** htmx attributes of a button that POSTs a model action: the answer replaces #model-section, a 4xx error fills #model-error. */
export function actionAttrs(model: string, action: "deploy" | "rollback" | "undeploy" | "owner") {
  return {
    "hx-post": `/models/${encodeURIComponent(model)}/${action}`,
    "hx-target": "#model-section",
    "hx-swap": "outerHTML",
    "hx-status:4xx": "target:#model-error swap:innerHTML",
  };
}
