// Translation: t(key, vars) in the chosen language, English when a key
// is missing; applyDom fills elements marked data-i18n (text),
// data-i18n-label (aria-label and title) and data-i18n-ph (placeholder).
import en from "./i18n/en.js";
import es from "./i18n/es.js";

const tables = { en, es };
let current = "en";

export const languages = Object.keys(tables);

export function setLang(lang) {
  current = tables[lang] ? lang : "en";
  document.documentElement.lang = current;
}

export function lang() { return current; }

export function t(key, vars = {}) {
  const s = tables[current][key] ?? en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
}

export function applyDom(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
    el.title = t(el.dataset.i18nLabel);
  }
  for (const el of root.querySelectorAll("[data-i18n-ph]")) el.placeholder = t(el.dataset.i18nPh);
}
