import { createI18n } from 'vue-i18n'
import en from './en'
import zh from './zh'

export const LANG_KEY = 'pystrument.lang'
export type Lang = 'en' | 'zh'

function initial(): Lang {
  const saved = typeof localStorage !== 'undefined' ? localStorage.getItem(LANG_KEY) : null
  if (saved === 'en' || saved === 'zh') return saved
  return typeof navigator !== 'undefined' && navigator.language.toLowerCase().startsWith('zh') ? 'zh' : 'en'
}

export const i18n = createI18n({ legacy: false, locale: initial(), fallbackLocale: 'en', messages: { en, zh } })

export function setLang(lang: Lang): void {
  i18n.global.locale.value = lang
  localStorage.setItem(LANG_KEY, lang)
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en'
}
