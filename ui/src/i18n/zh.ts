import type en from './en'

const zh: typeof en = {
  app: { title: 'pystrument', projects: '项目', logout: '退出登录', language: '语言' },
  nav: { dashboard: '概览', endpoints: '接口', records: '记录', flame: '火焰图', compare: '版本对比', setup: '接入与密钥' },
  login: { title: '登录', subtitle: '此服务器需要访问令牌。', token: '服务器令牌', submit: '登录', bad: '令牌被拒绝，请检查服务器启动时配置的令牌。' },
  projects: {
    title: '项目', create: '新建项目', name: '名称', description: '描述', records: '记录数', lastSeen: '最近数据',
    created: '创建时间', key: '项目密钥', copy: '复制', copied: '已复制', rotate: '轮换密钥', show: '显示', hide: '隐藏',
    rotateConfirm: '确定轮换 {name} 的密钥？仍使用旧密钥的应用将被拒绝。', rotated: '已生成新密钥',
    setup: '接入', open: '打开', empty: '还没有项目，创建一个以获取密钥。', createdOk: '项目已创建',
    nameRequired: '请填写名称', snippet: '接入代码', never: '从未',
  },
  common: { cancel: '取消', confirm: '确定', all: '全部', apply: '应用', reset: '重置', version: '版本', environment: '环境', endpoint: '接口', since: '时间范围', loading: '加载中…', noData: '暂无数据', view: '查看', refresh: '刷新' },
  jobs: { failing: '自动{job}失败（连续 {n} 次）', nextRetry: '下次重试 {at}', names: { regression_check: '回归检查', slow_record_analysis: '慢请求分析', upkeep: '维护（保留期、汇总）' } },
  dash: { requests: '请求量趋势', latency: '延迟趋势（p50 / p95）', slowest: '最慢接口', regressions: '近期性能回退', totalReq: '请求数', errorRate: '错误率', p95: 'p95', endpoints: '接口数', noRegressions: '{base} 与 {head} 之间没有显著回退。', needVersions: '有两个版本的数据后才会显示回退。', range: '范围' },
  ep: { title: '接口', count: '次数', errors: '错误', errorRate: '错误率', p50: 'p50', p95: 'p95', p99: 'p99', max: '最大', mean: '平均', versions: '版本', records: '记录', flame: '火焰图' },
  rec: { title: '记录', started: '开始时间', duration: '耗时', status: '状态码', minDuration: '最小耗时（毫秒）', version: '版本', env: '环境', errorsOnly: '状态', total: '共 {n} 条', any: '任意', ok: '2xx', client: '4xx', server: '5xx' },
  detail: { title: '记录', flame: '火焰图', tree: '调用树', top: '热点函数', meta: '元数据', analyses: '分析', export: '导出', function: '函数', self: '自身耗时', total: '总耗时', calls: '调用次数', where: '位置', noTree: '此记录没有调用树。', truncated: '调用树已被 SDK 裁剪。' },
  an: { analyse: '分析', provider: '分析方式', notConfigured: '未配置', status: '状态', findings: '发现', summary: '摘要', open: '打开', none: '尚无分析。', severity: '严重程度', saving: '预计节省', suggestion: '建议', confidence: '置信度', title: '分析结果', model: '模型', error: '错误', started: '已加入分析队列', queued: '排队中', running: '分析中', done: '完成', failed: '失败', record: '记录', raw: '模型原始输出' },
  flame: { search: '搜索函数', reset: '重置缩放', total: '总耗时', self: '自身耗时', base: '基线', change: '变化', matches: '{n} 处匹配', otherHint: '点击展开被裁剪的帧', slower: '变慢', faster: '变快', same: '无变化', app: '业务代码', lib: '库代码', other: '已裁剪（点击展开）', clickHint: '点击帧放大，再次点击缩小', merged: '合并自 {n} 个请求', pick: '选择接口' },
  tree: { expandAll: '全部展开', collapseAll: '全部折叠', rows: '{n} 行', function: '函数', total: '总耗时', self: '自身耗时' },
  autoSet: { title: '自动分析', hint: '慢请求以及最新两个版本之间的性能回退会被自动分析，无需点击。留空的项使用服务器的设置。', enabled: '自动分析', serverDefault: '服务器默认', on: '开启', off: '关闭', slowMs: '慢请求阈值（毫秒）', perHour: '每小时最多', regressions: '分析性能回退', save: '保存', saved: '已保存' },
  endpoint: { title: '接口', analyses: '该接口的分析', analysesHint: '最新的在前；慢请求和性能回退会自动排队分析' },
  auto: { noneAuto: '暂无自动分析发现。可在项目的“接入与密钥”页面开启自动分析。', recent: '自动分析发现', recentHint: '无需点击即自动分析的慢请求和性能回退', none: '暂无分析。', trigger: '触发方式', manual: '手动', slow_record: '慢请求', regression: '性能回退', more: '另有 {n} 项', clean: '未发现需要修改之处。', sev: { info: '提示', low: '低', medium: '中', high: '高' } },
  cmp: { incomplete: '比较超出了时间预算（compare_time_budget_s）：{endpoints} 的函数未被比较。', folded: '另有 {n} 个较轻的函数合并为 [other] 一起比较（每个接口 compare_max_functions 个）。', title: '版本对比', base: '基线版本', head: '对比版本', run: '对比', endpoints: '接口', functions: '函数', change: '变化', delta: 'Δ 毫秒', p: 'q 值', effect: '效应量', kind: '结论', regression: '回退', improvement: '提升', unchanged: '无变化', diff: '差异火焰图', diffHint: '宽度：对比版本每请求耗时；颜色：相对基线的变化。', pickTwo: '请选择两个版本。', significant: '显著', changeMean: '均值变化', mean: '均值', onlyIn: '仅见于 {v}', summary: '{r} 项回退 · {i} 项提升 · 已对比 {n} 个函数 · q < {alpha} 时标记（Mann–Whitney U 检验，按比较次数校正 p 值：Benjamini–Hochberg）' },
  spans: { title: 'SQL 查询与 HTTP 调用', totals: '{q} 次查询（{qms}）· {h} 次 HTTP 调用（{hms}）', dropped: '另有 {n} 个未保留（max_spans_per_unit）', at: '起于 {ms}', perVersion: '每次请求的查询与 HTTP 调用', perVersionHint: '各版本的 p50 / p95，取自最近记录的 span', records: '含 span', queries: '查询次数', queryMs: '查询耗时', http: 'HTTP 调用', httpMs: 'HTTP 耗时' },
}
export default zh
