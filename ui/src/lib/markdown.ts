// Model text is untrusted: markdown-it with raw HTML disabled (it escapes any tag), then DOMPurify.
import MarkdownIt from 'markdown-it'
import DOMPurify from 'dompurify'

const md = new MarkdownIt({ html: false, linkify: true, breaks: true })

export function renderMarkdown(text: string): string {
  return DOMPurify.sanitize(md.render(text ?? ''), { USE_PROFILES: { html: true } })
}
