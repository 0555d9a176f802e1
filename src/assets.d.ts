// Module declarations for files imported as embedded assets.
declare module "*.sql" {
  const text: string;
  export default text;
}
declare module "*.py" {
  const text: string;
  export default text;
}
declare module "*.so.1" {
  const path: string;
  export default path;
}
declare module "*.css" {
  const path: string;
  export default path;
}
declare module "*.ipynb" {
  const text: string;
  export default text;
}

// htmx and its extensions, embedded for the pages.
declare module "htmx.org/dist/*" {
  const path: string;
  export default path;
}
declare module "*.txt" {
  const text: string;
  export default text;
}
declare module "@alpinejs/csp/dist/*" {
  const path: string;
  export default path;
}
declare module "*/public/try-it.js" {
  const path: string;
  export default path;
}
