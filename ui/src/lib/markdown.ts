// Model text is untrusted: markdown-it with raw HTML disabled (it escapes any tag), then DOMPurify.
import MarkdownIt from 'markdown-it'
import DOMPurify from 'dompurify'

const md = new MarkdownIt({ html: false, linkify: true, breaks: true })

export function renderMarkdown(text: string): string {
  return DOMPurify.sanitize(md.render(text ?? ''), { USE_PROFILES: { html: true } })
}

/** One line (a title): inline markdown only (code spans, emphasis, links), no paragraph around it. */
export function renderInlineMarkdown(text: string): string {
  return DOMPurify.sanitize(md.renderInline(text ?? ''), { USE_PROFILES: { html: true } })
}
