<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
<context>
    <name>ABView</name>
    <message>
        <source>Base model</source>
        <translation>基础模型</translation>
    </message>
    <message>
        <source>First variant</source>
        <translation>第一个变体</translation>
    </message>
    <message>
        <source>Second variant</source>
        <translation>第二个变体</translation>
    </message>
    <message>
        <source>Documents</source>
        <translation>文档</translation>
    </message>
    <message>
        <source>Also offer each variant answering from passages of this corpus, as chat with documents does</source>
        <translation>另外让每个变体参考此语料中的段落作答，与文档对话时相同</translation>
    </message>
    <message>
        <source>Greedy (the likeliest reply, the same every time)</source>
        <translation>贪心（最可能的回复，每次都一样）</translation>
    </message>
    <message>
        <source>Temperature</source>
        <translation>温度</translation>
    </message>
    <message>
        <source>Max new tokens</source>
        <translation>最大新词元数</translation>
    </message>
    <message>
        <source>Compare two variants blind</source>
        <translation>盲测比较两个变体</translation>
    </message>
    <message>
        <source>Model:</source>
        <translation>模型：</translation>
    </message>
    <message>
        <source>Documents:</source>
        <translation>文档：</translation>
    </message>
    <message>
        <source>Variant 1:</source>
        <translation>变体 1：</translation>
    </message>
    <message>
        <source>Variant 2:</source>
        <translation>变体 2：</translation>
    </message>
    <message>
        <source>Temperature:</source>
        <translation>温度：</translation>
    </message>
    <message>
        <source>Max new tokens:</source>
        <translation>最大新词元数：</translation>
    </message>
    <message>
        <source>Prompt</source>
        <translation>提示词</translation>
    </message>
    <message>
        <source>A prompt for both variants…</source>
        <translation>给两个变体的提示词…</translation>
    </message>
    <message>
        <source>Generate both</source>
        <translation>同时生成</translation>
    </message>
    <message>
        <source>Reply A</source>
        <translation>回复 A</translation>
    </message>
    <message>
        <source>Reply B</source>
        <translation>回复 B</translation>
    </message>
    <message>
        <source>A is better</source>
        <translation>A 更好</translation>
    </message>
    <message>
        <source>Tie</source>
        <translation>平局</translation>
    </message>
    <message>
        <source>B is better</source>
        <translation>B 更好</translation>
    </message>
    <message>
        <source>Win rates</source>
        <translation>胜率</translation>
    </message>
    <message>
        <source>Variant 1</source>
        <translation>变体 1</translation>
    </message>
    <message>
        <source>Variant 2</source>
        <translation>变体 2</translation>
    </message>
    <message>
        <source>Wins 1</source>
        <translation>变体 1 胜</translation>
    </message>
    <message>
        <source>Wins 2</source>
        <translation>变体 2 胜</translation>
    </message>
    <message>
        <source>Ties</source>
        <translation>平局</translation>
    </message>
    <message>
        <source>Votes</source>
        <translation>投票数</translation>
    </message>
    <message>
        <source>Win rate 1</source>
        <translation>变体 1 胜率</translation>
    </message>
    <message>
        <source>Win rate 2</source>
        <translation>变体 2 胜率</translation>
    </message>
    <message>
        <source>Ratings from chat</source>
        <translation>对话中的评分</translation>
    </message>
    <message>
        <source>Variant</source>
        <translation>变体</translation>
    </message>
    <message>
        <source>Rated replies</source>
        <translation>评分数</translation>
    </message>
    <message>
        <source>Thumbs up</source>
        <translation>赞</translation>
    </message>
    <message>
        <source>Thumbs down</source>
        <translation>踩</translation>
    </message>
    <message>
        <source>Mean stars</source>
        <translation>平均星级</translation>
    </message>
    <message>
        <source>Stopped; nothing was put to a vote.</source>
        <translation>已停止；没有进行投票。</translation>
    </message>
    <message>
        <source>None</source>
        <translation>无</translation>
    </message>
    <message>
        <source>{0} (base)</source>
        <translation>{0}（基础）</translation>
    </message>
    <message>
        <source>{0} + documents {1}</source>
        <translation>{0} + 文档 {1}</translation>
    </message>
    <message>
        <source>This model has no adapter to compare it with; choose documents to compare with them.</source>
        <translation>这个模型没有可用于比较的适配器；可以选择文档，比较参考文档与不参考文档的回答。</translation>
    </message>
    <message>
        <source>Choose a model that has an adapter, or documents to answer from.</source>
        <translation>请选择一个有适配器的模型，或选择作答所依据的文档。</translation>
    </message>
    <message>
        <source>Choose two different variants to compare.</source>
        <translation>请选择两个不同的变体进行比较。</translation>
    </message>
    <message>
        <source>Type a prompt for both variants.</source>
        <translation>请为两个变体输入提示词。</translation>
    </message>
    <message>
        <source>Writing reply A…</source>
        <translation>正在生成回复 A…</translation>
    </message>
    <message>
        <source>Writing reply B…</source>
        <translation>正在生成回复 B…</translation>
    </message>
    <message>
        <source>Generating both replies…</source>
        <translation>正在生成两个回复…</translation>
    </message>
    <message>
        <source>(empty reply)</source>
        <translation>（空回复）</translation>
    </message>
    <message>
        <source>Which reply is better? The variants are revealed after you vote.</source>
        <translation>哪个回复更好？投票后会揭晓变体。</translation>
    </message>
    <message>
        <source>A</source>
        <translation>A</translation>
    </message>
    <message>
        <source>B</source>
        <translation>B</translation>
    </message>
    <message>
        <source>(every blind vote so far)</source>
        <translation>（迄今所有盲测投票）</translation>
    </message>
    <message>
        <source>(thumbs and stars given to replies)</source>
        <translation>（对回复的赞、踩和星级）</translation>
    </message>
    <message>
        <source>a tie</source>
        <translation>平局</translation>
    </message>
    <message>
        <source>Your vote: {0}. A was &lt;b&gt;{1}&lt;/b&gt;, B was &lt;b&gt;{2}&lt;/b&gt;.</source>
        <translation>你的投票：{0}。A 是 &lt;b&gt;{1}&lt;/b&gt;，B 是 &lt;b&gt;{2}&lt;/b&gt;。</translation>
    </message>
    <message>
        <source>Vote stored.</source>
        <translation>投票已保存。</translation>
    </message>
</context>
<context>
    <name>AdaptersView</name>
    <message>
        <source>Base model / adapter</source>
        <translation>基础模型 / 适配器</translation>
    </message>
    <message>
        <source>Kind</source>
        <translation>类型</translation>
    </message>
    <message>
        <source>Rank</source>
        <translation>秩</translation>
    </message>
    <message>
        <source>Adapters by base model</source>
        <translation>按基础模型分组的适配器</translation>
    </message>
    <message>
        <source>Import adapter…</source>
        <translation>导入适配器…</translation>
    </message>
    <message>
        <source>Merge into new model…</source>
        <translation>合并为新模型…</translation>
    </message>
    <message>
        <source>Bake the adapter into its base and add the result to the library</source>
        <translation>把适配器合并进基础模型，并把结果加入模型库</translation>
    </message>
    <message>
        <source>Remove</source>
        <translation>移除</translation>
    </message>
    <message>
        <source>Drop a PEFT adapter folder here to import it.</source>
        <translation>把 PEFT 适配器文件夹拖到这里即可导入。</translation>
    </message>
    <message>
        <source>Adapters</source>
        <translation>适配器</translation>
    </message>
    <message>
        <source>Adapter details</source>
        <translation>适配器详情</translation>
    </message>
    <message>
        <source>A prompt to send to every checked variant</source>
        <translation>发送给每个已勾选变体的提示词</translation>
    </message>
    <message>
        <source>Comparison prompt</source>
        <translation>比较用的提示词</translation>
    </message>
    <message>
        <source>Compare replies</source>
        <translation>比较回复</translation>
    </message>
    <message>
        <source>Compare side by side</source>
        <translation>并排比较</translation>
    </message>
    <message>
        <source>Cancelled; nothing was changed.</source>
        <translation>已取消；没有任何更改。</translation>
    </message>
    <message>
        <source>base model</source>
        <translation>基础模型</translation>
    </message>
    <message>
        <source>Damaged adapters</source>
        <translation>已损坏的适配器</translation>
    </message>
    <message>
        <source>damaged</source>
        <translation>已损坏</translation>
    </message>
    <message>
        <source>&lt;p&gt;Select an adapter to see where it came from and how it was made.&lt;/p&gt;</source>
        <translation>&lt;p&gt;选择一个适配器，查看它的来源和训练方式。&lt;/p&gt;</translation>
    </message>
    <message>
        <source>Base model</source>
        <translation>基础模型</translation>
    </message>
    <message>
        <source>Rank / alpha / dropout</source>
        <translation>秩 / alpha / dropout</translation>
    </message>
    <message>
        <source>Target modules</source>
        <translation>目标模块</translation>
    </message>
    <message>
        <source>Trained on</source>
        <translation>训练数据</translation>
    </message>
    <message>
        <source>Final loss</source>
        <translation>最终损失</translation>
    </message>
    <message>
        <source>Scores</source>
        <translation>得分</translation>
    </message>
    <message>
        <source>Created</source>
        <translation>创建时间</translation>
    </message>
    <message>
        <source>Choose a PEFT adapter folder</source>
        <translation>选择 PEFT 适配器文件夹</translation>
    </message>
    <message>
        <source>Importing {0}…</source>
        <translation>正在导入 {0}…</translation>
    </message>
    <message>
        <source>Imported adapter {0}.</source>
        <translation>已导入适配器 {0}。</translation>
    </message>
    <message>
        <source>Remove adapter</source>
        <translation>移除适配器</translation>
    </message>
    <message>
        <source>Remove the adapter &apos;{0}&apos;? Its files are deleted.</source>
        <translation>要移除适配器“{0}”吗？它的文件将被删除。</translation>
    </message>
    <message>
        <source>Merge adapter</source>
        <translation>合并适配器</translation>
    </message>
    <message>
        <source>Name of the new complete model:</source>
        <translation>新完整模型的名称：</translation>
    </message>
    <message>
        <source>Merging {0} into a new model…</source>
        <translation>正在把 {0} 合并为新模型…</translation>
    </message>
    <message>
        <source>Created the complete model {0}.</source>
        <translation>已创建完整模型 {0}。</translation>
    </message>
    <message>
        <source>Write a prompt and check at least one variant to compare.</source>
        <translation>请输入提示词，并至少勾选一个要比较的变体。</translation>
    </message>
    <message>
        <source>Generating replies…</source>
        <translation>正在生成回复…</translation>
    </message>
</context>
<context>
    <name>ChatView</name>
    <message>
        <source>{0}

Chats are kept only until LlamaDesk closes.</source>
        <translation>{0}

对话只保留到 LlamaDesk 关闭为止。</translation>
    </message>
    <message>
        <source>The model could not be loaded: {0}</source>
        <translation>无法加载模型：{0}</translation>
    </message>
    <message>
        <source>Your message will be answered as soon as the model is ready.</source>
        <translation>模型一旦就绪就会回复你的消息。</translation>
    </message>
</context>
<context>
    <name>Composer</name>
    <message>
        <source>Message</source>
        <translation>消息</translation>
    </message>
    <message>
        <source>Type a message — Ctrl+Enter sends, Esc stops</source>
        <translation>输入消息 — Ctrl+Enter 发送，Esc 停止</translation>
    </message>
    <message>
        <source>Send</source>
        <translation>发送</translation>
    </message>
    <message>
        <source>Stop</source>
        <translation>停止</translation>
    </message>
    <message>
        <source>Regenerate</source>
        <translation>重新生成</translation>
    </message>
    <message>
        <source>Write the last reply again; the earlier one is kept</source>
        <translation>重新生成最后一条回复；之前的回复会保留</translation>
    </message>
    <message>
        <source>Context used</source>
        <translation>已用上下文</translation>
    </message>
    <message>
        <source>Tokens this chat takes of the model&apos;s context, with the message being typed</source>
        <translation>此对话（含正在输入的消息）占用的模型上下文词元数</translation>
    </message>
    <message>
        <source>{0} / {1} tokens</source>
        <translation>{0} / {1} 词元</translation>
    </message>
</context>
<context>
    <name>ConversationActions</name>
    <message>
        <source>Delete chat</source>
        <translation>删除对话</translation>
    </message>
    <message>
        <source>Delete the chat “{0}”? This cannot be undone.</source>
        <translation>要删除对话“{0}”吗？此操作无法撤销。</translation>
    </message>
    <message>
        <source>Send a message first: this chat is still empty.</source>
        <translation>请先发送一条消息：这个对话还是空的。</translation>
    </message>
    <message>
        <source>Markdown (*.md)</source>
        <translation>Markdown (*.md)</translation>
    </message>
    <message>
        <source>Export chat</source>
        <translation>导出对话</translation>
    </message>
    <message>
        <source>The chat could not be exported: {0}</source>
        <translation>无法导出对话：{0}</translation>
    </message>
    <message>
        <source>Note on this reply</source>
        <translation>对这条回复的备注</translation>
    </message>
    <message>
        <source>What is good or wrong about this reply? (Leave it empty to remove the note.)</source>
        <translation>这条回复哪里好、哪里不对？（留空则删除备注。）</translation>
    </message>
</context>
<context>
    <name>ConversationList</name>
    <message>
        <source>Search chats (Ctrl+K)</source>
        <translation>搜索对话 (Ctrl+K)</translation>
    </message>
    <message>
        <source>Search chats</source>
        <translation>搜索对话</translation>
    </message>
    <message>
        <source>Conversations</source>
        <translation>对话</translation>
    </message>
    <message>
        <source>New chat</source>
        <translation>新对话</translation>
    </message>
    <message>
        <source>Delete</source>
        <translation>删除</translation>
    </message>
    <message>
        <source>Rename</source>
        <translation>重命名</translation>
    </message>
    <message>
        <source>Export as Markdown…</source>
        <translation>导出为 Markdown…</translation>
    </message>
    <message>
        <source>Export as JSON…</source>
        <translation>导出为 JSON…</translation>
    </message>
</context>
<context>
    <name>CorpusPreview</name>
    <message>
        <source>Data preview</source>
        <translation>数据预览</translation>
    </message>
    <message>
        <source>Drop documents to see what they hold before adding them.</source>
        <translation>拖入文档，先看看其中内容再添加。</translation>
    </message>
    <message>
        <source>&lt;p&gt;Reading {0} item(s)…&lt;/p&gt;</source>
        <translation>&lt;p&gt;正在读取 {0} 项…&lt;/p&gt;</translation>
    </message>
    <message>
        <source>Not added: {0}</source>
        <translation>未添加：{0}</translation>
    </message>
    <message>
        <source>plain text</source>
        <translation>纯文本</translation>
    </message>
    <message>
        <source>instructions</source>
        <translation>指令</translation>
    </message>
    <message>
        <source>mixed</source>
        <translation>混合</translation>
    </message>
    <message>
        <source>not counted</source>
        <translation>未统计</translation>
    </message>
    <message>
        <source>Kind</source>
        <translation>类型</translation>
    </message>
    <message>
        <source>Files read</source>
        <translation>已读取文件</translation>
    </message>
    <message>
        <source>Characters</source>
        <translation>字符数</translation>
    </message>
    <message>
        <source>Tokens</source>
        <translation>词元数</translation>
    </message>
    <message>
        <source>Languages</source>
        <translation>语言</translation>
    </message>
    <message>
        <source>Encodings</source>
        <translation>编码</translation>
    </message>
    <message>
        <source>Passages (train / validation)</source>
        <translation>段落（训练 / 验证）</translation>
    </message>
    <message>
        <source>Conversations (train / validation)</source>
        <translation>对话（训练 / 验证）</translation>
    </message>
    <message>
        <source>Duplicates dropped</source>
        <translation>已去除的重复项</translation>
    </message>
    <message>
        <source>&lt;p&gt;&lt;b&gt;Skipped {0} file(s):&lt;/b&gt;&lt;/p&gt;</source>
        <translation>&lt;p&gt;&lt;b&gt;跳过了 {0} 个文件：&lt;/b&gt;&lt;/p&gt;</translation>
    </message>
    <message>
        <source>&lt;p&gt;{0} record(s) left out, e.g. {1}&lt;/p&gt;</source>
        <translation>&lt;p&gt;省略了 {0} 条记录，例如 {1}&lt;/p&gt;</translation>
    </message>
    <message>
        <source>How the text reads</source>
        <translation>读取到的文本</translation>
    </message>
</context>
<context>
    <name>DataPanel</name>
    <message>
        <source>Corpus name (optional)</source>
        <translation>语料名称（可选）</translation>
    </message>
    <message>
        <source>Corpus name</source>
        <translation>语料名称</translation>
    </message>
    <message>
        <source>Add as corpus</source>
        <translation>添加为语料</translation>
    </message>
    <message>
        <source>Clear</source>
        <translation>清空</translation>
    </message>
    <message>
        <source>Forget the documents dropped so far</source>
        <translation>清除目前已拖入的文档</translation>
    </message>
    <message>
        <source>Corpora</source>
        <translation>语料</translation>
    </message>
    <message>
        <source>Edit instructions…</source>
        <translation>编辑指令…</translation>
    </message>
    <message>
        <source>Write instruction/response pairs, edit a copy of the selected instructions corpus, or draft pairs from documents with the chat model</source>
        <translation>编写指令/回复对，编辑所选指令语料的副本，或用对话模型从文档生成问答对</translation>
    </message>
    <message>
        <source>Remove</source>
        <translation>移除</translation>
    </message>
    <message>
        <source>Training data</source>
        <translation>训练数据</translation>
    </message>
    <message>
        <source>Reading documents…</source>
        <translation>正在读取文档…</translation>
    </message>
    <message>
        <source>Preview: {0}</source>
        <translation>预览：{0}</translation>
    </message>
    <message>
        <source> and {0} more</source>
        <translation>，另有 {0} 项</translation>
    </message>
    <message>
        <source>Drop or choose documents first.</source>
        <translation>请先拖入或选择文档。</translation>
    </message>
    <message>
        <source>Adding the corpus…</source>
        <translation>正在添加语料…</translation>
    </message>
    <message>
        <source>Added the corpus {0}.</source>
        <translation>已添加语料 {0}。</translation>
    </message>
    <message>
        <source>text</source>
        <translation>文本</translation>
    </message>
    <message>
        <source>instructions</source>
        <translation>指令</translation>
    </message>
    <message>
        <source>mixed</source>
        <translation>混合</translation>
    </message>
    <message>
        <source>{0} tokens</source>
        <translation>{0} 词元</translation>
    </message>
    <message>
        <source>{0} characters</source>
        <translation>{0} 字符</translation>
    </message>
    <message>
        <source>Remove corpus</source>
        <translation>移除语料</translation>
    </message>
    <message>
        <source>Remove the corpus &apos;{0}&apos;? Runs made from it keep their own token data.</source>
        <translation>要移除语料“{0}”吗？由它训练的运行会保留各自的词元数据。</translation>
    </message>
</context>
<context>
    <name>DatasetEditor</name>
    <message>
        <source>Instruction dataset</source>
        <translation>指令数据集</translation>
    </message>
    <message>
        <source>Instruction</source>
        <translation>指令</translation>
    </message>
    <message>
        <source>Response</source>
        <translation>回复</translation>
    </message>
    <message>
        <source>Instruction and response pairs</source>
        <translation>指令与回复对</translation>
    </message>
    <message>
        <source>Add pair</source>
        <translation>添加一对</translation>
    </message>
    <message>
        <source>Delete selected</source>
        <translation>删除所选</translation>
    </message>
    <message>
        <source>Load file…</source>
        <translation>加载文件…</translation>
    </message>
    <message>
        <source>Pairs from a JSONL, JSON or CSV instruction file</source>
        <translation>从 JSONL、JSON 或 CSV 指令文件中读取问答对</translation>
    </message>
    <message>
        <source>Dataset</source>
        <translation>数据集</translation>
    </message>
    <message>
        <source>corpus name, e.g. private-qa</source>
        <translation>语料名称，例如 private-qa</translation>
    </message>
    <message>
        <source>Corpus name</source>
        <translation>语料名称</translation>
    </message>
    <message>
        <source>Fixes which pairs go to the validation split</source>
        <translation>决定哪些问答对划入验证集</translation>
    </message>
    <message>
        <source>Save as corpus</source>
        <translation>保存为语料</translation>
    </message>
    <message>
        <source>Export JSONL…</source>
        <translation>导出 JSONL…</translation>
    </message>
    <message>
        <source>Name:</source>
        <translation>名称：</translation>
    </message>
    <message>
        <source>Split seed:</source>
        <translation>划分种子：</translation>
    </message>
    <message>
        <source>Documents to draft from</source>
        <translation>用于生成问题的文档</translation>
    </message>
    <message>
        <source>Choose documents…</source>
        <translation>选择文档…</translation>
    </message>
    <message>
        <source>Model for drafting</source>
        <translation>用于生成的模型</translation>
    </message>
    <message>
        <source>Used when no model is loaded in the Chat panel</source>
        <translation>在对话面板未加载模型时使用</translation>
    </message>
    <message>
        <source>Draft questions from these documents</source>
        <translation>从这些文档生成问题</translation>
    </message>
    <message>
        <source>Draft questions</source>
        <translation>生成问题</translation>
    </message>
    <message>
        <source>Documents:</source>
        <translation>文档：</translation>
    </message>
    <message>
        <source>passages, pairs per passage:</source>
        <translation>段落，每段问答对数：</translation>
    </message>
    <message>
        <source>Use:</source>
        <translation>使用：</translation>
    </message>
    <message>
        <source>Model:</source>
        <translation>模型：</translation>
    </message>
    <message>
        <source>Question</source>
        <translation>问题</translation>
    </message>
    <message>
        <source>Answer</source>
        <translation>答案</translation>
    </message>
    <message>
        <source>From</source>
        <translation>来源</translation>
    </message>
    <message>
        <source>Drafted pairs to review</source>
        <translation>待审阅的生成问答对</translation>
    </message>
    <message>
        <source>Add checked to dataset</source>
        <translation>将勾选项加入数据集</translation>
    </message>
    <message>
        <source>Discard all</source>
        <translation>全部丢弃</translation>
    </message>
    <message>
        <source>Drafted pairs wait here: edit them, untick the bad ones, then add the rest.</source>
        <translation>生成的问答对会在这里等待：编辑它们，取消勾选不好的，然后添加其余的。</translation>
    </message>
    <message>
        <source>Review drafted pairs</source>
        <translation>审阅生成的问答对</translation>
    </message>
    <message>
        <source>Chosen documents ({0})</source>
        <translation>已选文档（{0}）</translation>
    </message>
    <message>
        <source>Corpus {0}</source>
        <translation>语料 {0}</translation>
    </message>
    <message>
        <source>Open corpus</source>
        <translation>打开语料</translation>
    </message>
    <message>
        <source>Replace the {0} pairs in the table with those of &apos;{1}&apos;?</source>
        <translation>要用“{1}”中的问答对替换表格中现有的 {0} 对吗？</translation>
    </message>
    <message>
        <source>Reading {0}…</source>
        <translation>正在读取 {0}…</translation>
    </message>
    <message>
        <source>A copy of the corpus &apos;{0}&apos;: saving it makes a new corpus, and &apos;{0}&apos; stays as it is for the runs made from it.</source>
        <translation>这是语料“{0}”的副本：保存后会生成一个新语料，“{0}”保持原样，供由它训练的运行使用。</translation>
    </message>
    <message>
        <source>{0} pairs</source>
        <translation>{0} 对</translation>
    </message>
    <message>
        <source>Load instruction pairs</source>
        <translation>加载指令问答对</translation>
    </message>
    <message>
        <source>Instruction data (*.jsonl *.json *.csv)</source>
        <translation>指令数据 (*.jsonl *.json *.csv)</translation>
    </message>
    <message>
        <source>Loaded {0} pairs from {1}.</source>
        <translation>已从 {1} 加载 {0} 对。</translation>
    </message>
    <message>
        <source>{0} conversations with several turns were left out.</source>
        <translation>已省略 {0} 个多轮对话。</translation>
    </message>
    <message>
        <source>Documents to draft questions from</source>
        <translation>用于生成问题的文档</translation>
    </message>
    <message>
        <source>Documents (*.txt *.md *.pdf *.docx *.html *.htm)</source>
        <translation>文档 (*.txt *.md *.pdf *.docx *.html *.htm)</translation>
    </message>
    <message>
        <source>Choose documents or a text corpus to draft questions from.</source>
        <translation>请选择用于生成问题的文档或文本语料。</translation>
    </message>
    <message>
        <source>Import a model first: drafting needs a chat model.</source>
        <translation>请先导入模型：生成问题需要一个对话模型。</translation>
    </message>
    <message>
        <source>Drafting questions…</source>
        <translation>正在生成问题…</translation>
    </message>
    <message>
        <source>Drafted {0} pairs; review them before adding.</source>
        <translation>已生成 {0} 对；添加前请先审阅。</translation>
    </message>
    <message>
        <source>The model wrote no usable question/answer pairs; try other passages or a larger model.</source>
        <translation>模型没有写出可用的问答对；请换用其他段落或更大的模型。</translation>
    </message>
    <message>
        <source>Export pairs</source>
        <translation>导出问答对</translation>
    </message>
    <message>
        <source>Wrote {0} pairs to {1}.</source>
        <translation>已将 {0} 对写入 {1}。</translation>
    </message>
    <message>
        <source>Give the corpus a name.</source>
        <translation>请为语料命名。</translation>
    </message>
    <message>
        <source>Saving {0}…</source>
        <translation>正在保存 {0}…</translation>
    </message>
    <message>
        <source>Saved the instructions corpus {0}.</source>
        <translation>已保存指令语料 {0}。</translation>
    </message>
    <message>
        <source>{0} documents</source>
        <translation>{0} 个文档</translation>
    </message>
</context>
<context>
    <name>DropZone</name>
    <message>
        <source>Drop files or folders here
text: .txt .md .pdf .docx .html
instructions: .jsonl .json .csv</source>
        <translation>把文件或文件夹拖到这里
文本：.txt .md .pdf .docx .html
指令：.jsonl .json .csv</translation>
    </message>
    <message>
        <source>Add files…</source>
        <translation>添加文件…</translation>
    </message>
    <message>
        <source>Add folder…</source>
        <translation>添加文件夹…</translation>
    </message>
    <message>
        <source>Add training documents</source>
        <translation>添加训练文档</translation>
    </message>
    <message>
        <source>Documents and data (*.txt *.md *.pdf *.docx *.html *.htm *.jsonl *.json *.csv)</source>
        <translation>文档和数据 (*.txt *.md *.pdf *.docx *.html *.htm *.jsonl *.json *.csv)</translation>
    </message>
    <message>
        <source>Add a folder of documents</source>
        <translation>添加文档文件夹</translation>
    </message>
</context>
<context>
    <name>EvaluateView</name>
    <message>
        <source>Reading the data…</source>
        <translation>正在读取数据…</translation>
    </message>
    <message>
        <source>perplexity</source>
        <translation>困惑度</translation>
    </message>
    <message>
        <source>accuracy</source>
        <translation>准确率</translation>
    </message>
    <message>
        <source>exact match</source>
        <translation>完全匹配</translation>
    </message>
    <message>
        <source>ROUGE-L</source>
        <translation>ROUGE-L</translation>
    </message>
    <message>
        <source>contains answer</source>
        <translation>包含答案</translation>
    </message>
    <message>
        <source>Perplexity</source>
        <translation>困惑度</translation>
    </message>
    <message>
        <source>Multiple choice</source>
        <translation>多项选择</translation>
    </message>
    <message>
        <source>Generation</source>
        <translation>生成</translation>
    </message>
    <message>
        <source>Evaluation cancelled; the variants already scored are kept.</source>
        <translation>评估已取消；已完成评分的变体会保留。</translation>
    </message>
    <message>
        <source>Scores</source>
        <translation>得分</translation>
    </message>
    <message>
        <source>Blind A/B</source>
        <translation>A/B 盲测</translation>
    </message>
    <message>
        <source>Base model</source>
        <translation>基础模型</translation>
    </message>
    <message>
        <source>Variants to evaluate</source>
        <translation>要评估的变体</translation>
    </message>
    <message>
        <source>Metric</source>
        <translation>指标</translation>
    </message>
    <message>
        <source>Data set</source>
        <translation>数据集</translation>
    </message>
    <message>
        <source>File…</source>
        <translation>文件…</translation>
    </message>
    <message>
        <source>Folder…</source>
        <translation>文件夹…</translation>
    </message>
    <message>
        <source>Or drop a file or folder on this panel.</source>
        <translation>或把文件、文件夹拖到此面板上。</translation>
    </message>
    <message>
        <source>Run evaluation</source>
        <translation>运行评估</translation>
    </message>
    <message>
        <source>Run an evaluation</source>
        <translation>运行一次评估</translation>
    </message>
    <message>
        <source>Model:</source>
        <translation>模型：</translation>
    </message>
    <message>
        <source>Variants:</source>
        <translation>变体：</translation>
    </message>
    <message>
        <source>Metric:</source>
        <translation>指标：</translation>
    </message>
    <message>
        <source>Data:</source>
        <translation>数据：</translation>
    </message>
    <message>
        <source>Details…</source>
        <translation>详情…</translation>
    </message>
    <message>
        <source>Only the chosen model</source>
        <translation>仅所选模型</translation>
    </message>
    <message>
        <source>Show only the results of the model chosen on the left; otherwise every model&apos;s</source>
        <translation>只显示左侧所选模型的结果；取消勾选则显示所有模型的结果</translation>
    </message>
    <message>
        <source>Each question of the selected cell, readable one by one (or double-click the cell)</source>
        <translation>逐题查看所选单元格中的每道题（或双击该单元格）</translation>
    </message>
    <message>
        <source>Replies…</source>
        <translation>回复…</translation>
    </message>
    <message>
        <source>Every variant&apos;s reply to each question of the selected generation column, side by side</source>
        <translation>并排查看各变体对所选生成列中每道题的回复</translation>
    </message>
    <message>
        <source>Export CSV…</source>
        <translation>导出 CSV…</translation>
    </message>
    <message>
        <source>Export Markdown…</source>
        <translation>导出 Markdown…</translation>
    </message>
    <message>
        <source>No results yet: tick the variants, choose the data and press Run evaluation.</source>
        <translation>还没有结果：勾选变体，选择数据，然后点“运行评估”。</translation>
    </message>
    <message>
        <source>★ best in its column · perplexity: lower is better · others: higher</source>
        <translation>★ 该列最佳 · 困惑度：越低越好 · 其他：越高越好</translation>
    </message>
    <message>
        <source>Chart column</source>
        <translation>图表列</translation>
    </message>
    <message>
        <source>Latest scores</source>
        <translation>最新得分</translation>
    </message>
    <message>
        <source>Scores appear here after an evaluation.</source>
        <translation>评估完成后得分会显示在这里。</translation>
    </message>
    <message>
        <source>Over time</source>
        <translation>随时间变化</translation>
    </message>
    <message>
        <source>run date</source>
        <translation>运行日期</translation>
    </message>
    <message>
        <source>The history of a column appears here.</source>
        <translation>某一列的历史会显示在这里。</translation>
    </message>
    <message>
        <source>Chart:</source>
        <translation>图表：</translation>
    </message>
    <message>
        <source>Automatic (context, ≤ 2048)</source>
        <translation>自动（上下文，≤ 2048）</translation>
    </message>
    <message>
        <source>Window</source>
        <translation>窗口</translation>
    </message>
    <message>
        <source>Tokens the model reads at once</source>
        <translation>模型一次读取的词元数</translation>
    </message>
    <message>
        <source>Half the window</source>
        <translation>窗口的一半</translation>
    </message>
    <message>
        <source>Stride</source>
        <translation>步长</translation>
    </message>
    <message>
        <source>Tokens each window moves on; the rest is re-read as context</source>
        <translation>每个窗口前移的词元数；其余部分作为上下文重新读取</translation>
    </message>
    <message>
        <source>Perplexity settings</source>
        <translation>困惑度设置</translation>
    </message>
    <message>
        <source>Window:</source>
        <translation>窗口：</translation>
    </message>
    <message>
        <source>Stride:</source>
        <translation>步长：</translation>
    </message>
    <message>
        <source>Shots</source>
        <translation>示例数</translation>
    </message>
    <message>
        <source>Worked examples from the subject&apos;s dev file before each question</source>
        <translation>每道题之前从该科目开发集中取的示例</translation>
    </message>
    <message>
        <source>Wrap in the chat template</source>
        <translation>套用对话模板</translation>
    </message>
    <message>
        <source>Prompt language</source>
        <translation>提示词语言</translation>
    </message>
    <message>
        <source>Automatic</source>
        <translation>自动</translation>
    </message>
    <message>
        <source>Chinese</source>
        <translation>中文</translation>
    </message>
    <message>
        <source>English</source>
        <translation>英文</translation>
    </message>
    <message>
        <source>Multiple-choice settings</source>
        <translation>多项选择设置</translation>
    </message>
    <message>
        <source>Shots:</source>
        <translation>示例数：</translation>
    </message>
    <message>
        <source>Prompt language:</source>
        <translation>提示词语言：</translation>
    </message>
    <message>
        <source>Max new tokens</source>
        <translation>最大新词元数</translation>
    </message>
    <message>
        <source>Chat template</source>
        <translation>对话模板</translation>
    </message>
    <message>
        <source>When the model has one</source>
        <translation>模型有模板时</translation>
    </message>
    <message>
        <source>Always</source>
        <translation>总是</translation>
    </message>
    <message>
        <source>Never</source>
        <translation>从不</translation>
    </message>
    <message>
        <source>All</source>
        <translation>全部</translation>
    </message>
    <message>
        <source>Questions</source>
        <translation>题目数</translation>
    </message>
    <message>
        <source>Documents</source>
        <translation>文档</translation>
    </message>
    <message>
        <source>Each ticked variant also answers with passages from these documents: with the base and an adapter ticked, retrieval and training are compared four ways</source>
        <translation>每个已勾选的变体还会参考这些文档中的段落作答：同时勾选基础模型和一个适配器时，可用四种组合比较检索与训练的效果</translation>
    </message>
    <message>
        <source>Choose…</source>
        <translation>选择…</translation>
    </message>
    <message>
        <source>Ground the answers in a file or folder</source>
        <translation>让回答依据某个文件或文件夹</translation>
    </message>
    <message>
        <source>Generation settings</source>
        <translation>生成设置</translation>
    </message>
    <message>
        <source>Max new tokens:</source>
        <translation>最大新词元数：</translation>
    </message>
    <message>
        <source>Chat template:</source>
        <translation>对话模板：</translation>
    </message>
    <message>
        <source>Questions:</source>
        <translation>题目数：</translation>
    </message>
    <message>
        <source>Documents:</source>
        <translation>文档：</translation>
    </message>
    <message>
        <source>{0} (base)</source>
        <translation>{0}（基础）</translation>
    </message>
    <message>
        <source>Sample: {0}</source>
        <translation>示例：{0}</translation>
    </message>
    <message>
        <source>Corpus: {0}</source>
        <translation>语料：{0}</translation>
    </message>
    <message>
        <source>Folder: {0}</source>
        <translation>文件夹：{0}</translation>
    </message>
    <message>
        <source>File: {0}</source>
        <translation>文件：{0}</translation>
    </message>
    <message>
        <source>{0} will be evaluated for {1}.</source>
        <translation>{0} 将用于{1}评估。</translation>
    </message>
    <message>
        <source>None</source>
        <translation>无</translation>
    </message>
    <message>
        <source>Choose the documents to answer from</source>
        <translation>选择作答所依据的文档</translation>
    </message>
    <message>
        <source>Choose a data file</source>
        <translation>选择数据文件</translation>
    </message>
    <message>
        <source>Choose a data folder</source>
        <translation>选择数据文件夹</translation>
    </message>
    <message>
        <source>Import a model first; there is nothing to evaluate.</source>
        <translation>请先导入模型；目前没有可评估的内容。</translation>
    </message>
    <message>
        <source>Tick at least one variant to evaluate.</source>
        <translation>请至少勾选一个要评估的变体。</translation>
    </message>
    <message>
        <source>Choose the data to evaluate on.</source>
        <translation>请选择用于评估的数据。</translation>
    </message>
    <message>
        <source>Evaluating {0} variant(s) of {1}…</source>
        <translation>正在评估 {1} 的 {0} 个变体…</translation>
    </message>
    <message>
        <source>Evaluation stored: {0}</source>
        <translation>评估已保存：{0}</translation>
    </message>
    <message numerus="yes">
        <source>%n document(s)</source>
        <translation>
            <numerusform>%n 个文档</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%n question(s)</source>
        <translation>
            <numerusform>%n 道题</numerusform>
        </translation>
    </message>
    <message>
        <source>lower is better</source>
        <translation>越低越好</translation>
    </message>
    <message>
        <source>higher is better</source>
        <translation>越高越好</translation>
    </message>
    <message>
        <source>Run {0}, {1}; {2}. Double-click for each item.</source>
        <translation>运行 {0}，{1}；{2}。双击查看每一项。</translation>
    </message>
    <message>
        <source>{0} — {1}</source>
        <translation>{0} — {1}</translation>
    </message>
    <message>
        <source>Replies — {0}</source>
        <translation>回复 — {0}</translation>
    </message>
    <message>
        <source>Over time: {0}</source>
        <translation>随时间变化：{0}</translation>
    </message>
    <message>
        <source>CSV (*.csv)</source>
        <translation>CSV (*.csv)</translation>
    </message>
    <message>
        <source>Markdown (*.md)</source>
        <translation>Markdown (*.md)</translation>
    </message>
    <message>
        <source>Export scores</source>
        <translation>导出得分</translation>
    </message>
    <message>
        <source>Scores exported to {0}.</source>
        <translation>得分已导出到 {0}。</translation>
    </message>
</context>
<context>
    <name>ImportAdapterDialog</name>
    <message>
        <source>Import adapter</source>
        <translation>导入适配器</translation>
    </message>
    <message>
        <source>Base model</source>
        <translation>基础模型</translation>
    </message>
    <message>
        <source>Adapter name</source>
        <translation>适配器名称</translation>
    </message>
    <message>
        <source>Folder:</source>
        <translation>文件夹：</translation>
    </message>
    <message>
        <source>Base model:</source>
        <translation>基础模型：</translation>
    </message>
    <message>
        <source>Name:</source>
        <translation>名称：</translation>
    </message>
</context>
<context>
    <name>ImportDialog</name>
    <message>
        <source>Import model</source>
        <translation>导入模型</translation>
    </message>
    <message>
        <source>Model name</source>
        <translation>模型名称</translation>
    </message>
    <message>
        <source>Use the folder where it is (do not copy)</source>
        <translation>直接使用原文件夹（不复制）</translation>
    </message>
    <message>
        <source>Reading what it needs…</source>
        <translation>正在读取所需内存…</translation>
    </message>
    <message>
        <source>Source:</source>
        <translation>来源：</translation>
    </message>
    <message>
        <source>Name:</source>
        <translation>名称：</translation>
    </message>
    <message>
        <source>Memory:</source>
        <translation>内存：</translation>
    </message>
    <message>
        <source>What it needs could not be read: {0}</source>
        <translation>无法读取所需内存：{0}</translation>
    </message>
</context>
<context>
    <name>ItemHtml</name>
    <message>
        <source>The question text was not stored with this run, and its data file has changed or moved.</source>
        <translation>本次运行没有保存题目文本，而它的数据文件已被修改或移动。</translation>
    </message>
    <message>
        <source>◀ the model&apos;s pick</source>
        <translation>◀ 模型的选择</translation>
    </message>
    <message>
        <source>✔ right answer</source>
        <translation>✔ 正确答案</translation>
    </message>
    <message>
        <source>Right</source>
        <translation>正确</translation>
    </message>
    <message>
        <source>Wrong</source>
        <translation>错误</translation>
    </message>
    <message>
        <source>numbers: how strongly the model leaned to each letter (its logit)</source>
        <translation>数值：模型对每个选项字母的倾向程度（logit）</translation>
    </message>
    <message>
        <source>{0} worked example(s) before it</source>
        <translation>题前附 {0} 个示例</translation>
    </message>
    <message>
        <source>cut to fit the model&apos;s context</source>
        <translation>已截断以适应模型的上下文</translation>
    </message>
    <message>
        <source>exact match {0}</source>
        <translation>完全匹配 {0}</translation>
    </message>
    <message>
        <source>ROUGE-L {0}</source>
        <translation>ROUGE-L {0}</translation>
    </message>
    <message>
        <source>contains answer {0}</source>
        <translation>包含答案 {0}</translation>
    </message>
    <message>
        <source>(empty reply)</source>
        <translation>（空回复）</translation>
    </message>
    <message>
        <source>No passage matched this question.</source>
        <translation>没有与这道题匹配的段落。</translation>
    </message>
    <message>
        <source>Passages given with the question:</source>
        <translation>随题目提供的段落：</translation>
    </message>
    <message>
        <source>Question</source>
        <translation>问题</translation>
    </message>
    <message>
        <source>Expected</source>
        <translation>参考答案</translation>
    </message>
    <message>
        <source>Reply</source>
        <translation>回复</translation>
    </message>
    <message>
        <source>Document</source>
        <translation>文档</translation>
    </message>
    <message>
        <source>Tokens</source>
        <translation>词元数</translation>
    </message>
    <message>
        <source>Perplexity</source>
        <translation>困惑度</translation>
    </message>
</context>
<context>
    <name>JobForm</name>
    <message>
        <source>Apply suggestion</source>
        <translation>应用建议</translation>
    </message>
    <message>
        <source>Start</source>
        <translation>开始</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>取消</translation>
    </message>
    <message>
        <source>Stop within seconds, keeping the last checkpoint</source>
        <translation>在几秒内停止，保留上一个检查点</translation>
    </message>
    <message>
        <source>Resume</source>
        <translation>继续</translation>
    </message>
    <message>
        <source>Continue the selected run from its last checkpoint</source>
        <translation>从上一个检查点继续所选运行</translation>
    </message>
    <message>
        <source>Base model</source>
        <translation>基础模型</translation>
    </message>
    <message>
        <source>Kind of training</source>
        <translation>训练类型</translation>
    </message>
    <message>
        <source>Continued pre-training (plain text)</source>
        <translation>继续预训练（纯文本）</translation>
    </message>
    <message>
        <source>Instruction tuning, SFT (pairs)</source>
        <translation>指令微调，SFT（问答对）</translation>
    </message>
    <message>
        <source>Training corpus</source>
        <translation>训练语料</translation>
    </message>
    <message>
        <source>Adapter name</source>
        <translation>适配器名称</translation>
    </message>
    <message>
        <source>Learning rate</source>
        <translation>学习率</translation>
    </message>
    <message>
        <source>Tokens per pre-training block, and the longest SFT example</source>
        <translation>每个预训练块的词元数，以及最长的 SFT 样本</translation>
    </message>
    <message>
        <source>New training job</source>
        <translation>新训练任务</translation>
    </message>
    <message>
        <source>Base model:</source>
        <translation>基础模型：</translation>
    </message>
    <message>
        <source>Kind:</source>
        <translation>类型：</translation>
    </message>
    <message>
        <source>Data:</source>
        <translation>数据：</translation>
    </message>
    <message>
        <source>Adapter name:</source>
        <translation>适配器名称：</translation>
    </message>
    <message>
        <source>Epochs:</source>
        <translation>轮数：</translation>
    </message>
    <message>
        <source>LoRA rank:</source>
        <translation>LoRA 秩：</translation>
    </message>
    <message>
        <source>Learning rate:</source>
        <translation>学习率：</translation>
    </message>
    <message>
        <source>Block (tokens):</source>
        <translation>块（词元）：</translation>
    </message>
    <message>
        <source>Advanced</source>
        <translation>高级</translation>
    </message>
    <message>
        <source>2 × rank</source>
        <translation>2 × 秩</translation>
    </message>
    <message>
        <source>auto</source>
        <translation>自动</translation>
    </message>
    <message>
        <source>by epochs</source>
        <translation>按轮数</translation>
    </message>
    <message>
        <source>Gradient checkpointing (less memory, ~30 % slower)</source>
        <translation>梯度检查点（更省内存，约慢 30%）</translation>
    </message>
    <message>
        <source>e.g. embed_tokens, lm_head</source>
        <translation>例如 embed_tokens, lm_head</translation>
    </message>
    <message>
        <source>Modules trained in full rather than with LoRA</source>
        <translation>完整训练而非用 LoRA 训练的模块</translation>
    </message>
    <message>
        <source>off</source>
        <translation>关闭</translation>
    </message>
    <message>
        <source>Pre-training only: learn up to this many new tokens from the corpus</source>
        <translation>仅预训练：最多从语料中学习这么多个新词元</translation>
    </message>
    <message>
        <source>Fixes the train/validation split, LoRA&apos;s start and the data order</source>
        <translation>决定训练/验证划分、LoRA 的初始值和数据顺序</translation>
    </message>
    <message>
        <source>LoRA alpha:</source>
        <translation>LoRA alpha：</translation>
    </message>
    <message>
        <source>Dropout:</source>
        <translation>Dropout：</translation>
    </message>
    <message>
        <source>Batch:</source>
        <translation>批大小：</translation>
    </message>
    <message>
        <source>Grad accumulation:</source>
        <translation>梯度累积：</translation>
    </message>
    <message>
        <source>Max steps:</source>
        <translation>最大步数：</translation>
    </message>
    <message>
        <source>Warm-up ratio:</source>
        <translation>预热比例：</translation>
    </message>
    <message>
        <source>Evaluate every:</source>
        <translation>评估间隔：</translation>
    </message>
    <message>
        <source>Save every:</source>
        <translation>保存间隔：</translation>
    </message>
    <message>
        <source>Modules to save:</source>
        <translation>需保存的模块：</translation>
    </message>
    <message>
        <source>Extend vocabulary:</source>
        <translation>扩展词表：</translation>
    </message>
    <message>
        <source>Seed:</source>
        <translation>随机种子：</translation>
    </message>
    <message>
        <source> (merged)</source>
        <translation>（已合并）</translation>
    </message>
    <message>
        <source>text</source>
        <translation>文本</translation>
    </message>
    <message>
        <source>instructions</source>
        <translation>指令</translation>
    </message>
    <message>
        <source>mixed</source>
        <translation>混合</translation>
    </message>
    <message>
        <source>The learning rate must be a number, such as 2e-4.</source>
        <translation>学习率必须是数字，例如 2e-4。</translation>
    </message>
    <message>
        <source>{0} optimizer steps</source>
        <translation>{0} 个优化步</translation>
    </message>
    <message>
        <source>About {0} optimizer steps</source>
        <translation>约 {0} 个优化步</translation>
    </message>
    <message>
        <source>&lt;b&gt;{0}&lt;/b&gt; over {1} training examples: {2} per epoch, effective batch {3} ({4} × {5}).</source>
        <translation>&lt;b&gt;{0}&lt;/b&gt;，共 {1} 个训练样本：每轮 {2} 步，有效批大小 {3}（{4} × {5}）。</translation>
    </message>
    <message>
        <source>About {0} on this computer.</source>
        <translation>在这台电脑上约需 {0}。</translation>
    </message>
    <message>
        <source>Estimating memory…</source>
        <translation>正在估算内存…</translation>
    </message>
    <message>
        <source>GPU memory</source>
        <translation>显存</translation>
    </message>
    <message>
        <source>memory</source>
        <translation>内存</translation>
    </message>
    <message>
        <source>Memory: about {0} of {1} needed, {2} free — fits.</source>
        <translation>内存：约需 {0} {1}，可用 {2} — 够用。</translation>
    </message>
    <message>
        <source>Applied the suggested settings.</source>
        <translation>已应用建议的设置。</translation>
    </message>
</context>
<context>
    <name>LearnReport</name>
    <message>
        <source>What the run learnt</source>
        <translation>本次训练学到了什么</translation>
    </message>
    <message>
        <source>It learnt its training examples: their loss fell from {0:.2f} to {1:.2f}.</source>
        <translation>已学会训练样本：损失从 {0:.2f} 降到 {1:.2f}。</translation>
    </message>
    <message>
        <source>It learnt a little: the loss fell from {0:.2f} to {1:.2f}; more epochs or a higher learning rate would teach it more.</source>
        <translation>学到了一些：损失从 {0:.2f} 降到 {1:.2f}；增加轮数或提高学习率能学到更多。</translation>
    </message>
    <message>
        <source>It hardly learnt: the loss on its own training examples only went from {0:.2f} to {1:.2f}; try more epochs or a higher learning rate.</source>
        <translation>几乎没有学到：训练样本上的损失只从 {0:.2f} 变为 {1:.2f}；请尝试增加轮数或提高学习率。</translation>
    </message>
    <message>
        <source>Loss on</source>
        <translation>损失（样本）</translation>
    </message>
    <message>
        <source>Examples</source>
        <translation>样本数</translation>
    </message>
    <message>
        <source>Base</source>
        <translation>基础模型</translation>
    </message>
    <message>
        <source>With the adapter</source>
        <translation>加适配器</translation>
    </message>
    <message>
        <source>Change</source>
        <translation>变化</translation>
    </message>
    <message>
        <source>training examples</source>
        <translation>训练样本</translation>
    </message>
    <message>
        <source>validation examples</source>
        <translation>验证样本</translation>
    </message>
    <message>
        <source>No validation examples to compare.</source>
        <translation>没有可供比较的验证样本。</translation>
    </message>
    <message>
        <source>Text</source>
        <translation>文本</translation>
    </message>
    <message>
        <source>Question</source>
        <translation>问题</translation>
    </message>
    <message>
        <source>Continues in the data</source>
        <translation>数据中的后文</translation>
    </message>
    <message>
        <source>Answer in the data</source>
        <translation>数据中的答案</translation>
    </message>
    <message>
        <source>{0}:</source>
        <translation>{0}：</translation>
    </message>
    <message>
        <source>Sample {0}</source>
        <translation>示例 {0}</translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <source>LlamaDesk</source>
        <translation>LlamaDesk</translation>
    </message>
    <message>
        <source>Chat</source>
        <translation>对话</translation>
    </message>
    <message>
        <source>Models</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>Adapters</source>
        <translation>适配器</translation>
    </message>
    <message>
        <source>Train</source>
        <translation>训练</translation>
    </message>
    <message>
        <source>Evaluate</source>
        <translation>评估</translation>
    </message>
    <message>
        <source>LlamaDesk {0} · everything stays on this computer</source>
        <translation>LlamaDesk {0} · 所有内容都留在这台电脑上</translation>
    </message>
    <message>
        <source>&amp;File</source>
        <translation>文件(&amp;F)</translation>
    </message>
    <message>
        <source>&amp;New chat</source>
        <translation>新建对话(&amp;N)</translation>
    </message>
    <message>
        <source>&amp;Search chats</source>
        <translation>搜索对话(&amp;S)</translation>
    </message>
    <message>
        <source>Se&amp;ttings…</source>
        <translation>设置(&amp;T)…</translation>
    </message>
    <message>
        <source>&amp;Quit</source>
        <translation>退出(&amp;Q)</translation>
    </message>
    <message>
        <source>&amp;Help</source>
        <translation>帮助(&amp;H)</translation>
    </message>
    <message>
        <source>&amp;Local server…</source>
        <translation>本地服务器(&amp;L)…</translation>
    </message>
    <message>
        <source>&amp;Welcome guide</source>
        <translation>入门指南(&amp;W)</translation>
    </message>
    <message>
        <source>&amp;About LlamaDesk</source>
        <translation>关于 LlamaDesk(&amp;A)</translation>
    </message>
    <message>
        <source>Local server: off</source>
        <translation>本地服务器：关闭</translation>
    </message>
    <message>
        <source>Local server: {0}</source>
        <translation>本地服务器：{0}</translation>
    </message>
    <message>
        <source>The new language shows after LlamaDesk restarts.</source>
        <translation>新的界面语言将在 LlamaDesk 重新启动后生效。</translation>
    </message>
    <message>
        <source>About LlamaDesk</source>
        <translation>关于 LlamaDesk</translation>
    </message>
    <message>
        <source>LlamaDesk {0}

Run, customise and evaluate Llama-family models on this computer.</source>
        <translation>LlamaDesk {0}

在这台电脑上运行、定制和评估 Llama 系列模型。</translation>
    </message>
    <message>
        <source>Preparing the starter model for first use…</source>
        <translation>正在准备首次使用的入门模型…</translation>
    </message>
    <message>
        <source>Preparing the starter model was cancelled.</source>
        <translation>入门模型的准备已取消。</translation>
    </message>
</context>
<context>
    <name>ModelBar</name>
    <message>
        <source>Model</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>Adapter</source>
        <translation>适配器</translation>
    </message>
    <message>
        <source>Documents</source>
        <translation>文档</translation>
    </message>
    <message>
        <source>Answer from a corpus of your documents: the passages that match each question go to the model with it, and the reply lists them.</source>
        <translation>依据你的文档语料作答：与每个问题匹配的段落会随问题一起交给模型，回复中会列出这些段落。</translation>
    </message>
    <message>
        <source>Settings</source>
        <translation>设置</translation>
    </message>
    <message>
        <source>Export</source>
        <translation>导出</translation>
    </message>
    <message>
        <source>As Markdown…</source>
        <translation>导出为 Markdown…</translation>
    </message>
    <message>
        <source>As JSON…</source>
        <translation>导出为 JSON…</translation>
    </message>
    <message>
        <source>Model:</source>
        <translation>模型：</translation>
    </message>
    <message>
        <source>Adapter:</source>
        <translation>适配器：</translation>
    </message>
    <message>
        <source>Documents:</source>
        <translation>文档：</translation>
    </message>
    <message>
        <source>Base model (no adapter)</source>
        <translation>基础模型（无适配器）</translation>
    </message>
    <message>
        <source>None</source>
        <translation>无</translation>
    </message>
</context>
<context>
    <name>ModelSession</name>
    <message>
        <source>{0} (removed from the library)</source>
        <translation>{0}（已从模型库移除）</translation>
    </message>
    <message>
        <source>The files of {0} are gone; it keeps answering from memory until you choose another model.</source>
        <translation>{0} 的文件已不存在；在你选择其他模型之前，它会继续用内存中的副本回答。</translation>
    </message>
    <message>
        <source>Switching to {0}…</source>
        <translation>正在切换到 {0}…</translation>
    </message>
    <message>
        <source>the base model</source>
        <translation>基础模型</translation>
    </message>
    <message>
        <source>Loading {0}…</source>
        <translation>正在加载 {0}…</translation>
    </message>
    <message>
        <source>No model loaded</source>
        <translation>未加载模型</translation>
    </message>
    <message>
        <source>{0} weights</source>
        <translation>{0} 权重</translation>
    </message>
    <message>
        <source>{0} tokens/s</source>
        <translation>{0} 词元/秒</translation>
    </message>
    <message>
        <source>first token {0} s</source>
        <translation>首个词元 {0} 秒</translation>
    </message>
</context>
<context>
    <name>ModelsView</name>
    <message>
        <source>Library models</source>
        <translation>库中的模型</translation>
    </message>
    <message>
        <source>Import folder…</source>
        <translation>导入文件夹…</translation>
    </message>
    <message>
        <source>A Hugging Face model folder or Meta&apos;s original release</source>
        <translation>Hugging Face 模型文件夹或 Meta 的原始发布版本</translation>
    </message>
    <message>
        <source>Import GGUF…</source>
        <translation>导入 GGUF…</translation>
    </message>
    <message>
        <source>Remove</source>
        <translation>移除</translation>
    </message>
    <message>
        <source>Import cancelled; the library is unchanged.</source>
        <translation>导入已取消；模型库没有变化。</translation>
    </message>
    <message>
        <source>Drop a model folder or a .gguf file here to import it.</source>
        <translation>把模型文件夹或 .gguf 文件拖到这里即可导入。</translation>
    </message>
    <message>
        <source>Weights on a CPU</source>
        <translation>CPU 上的权重</translation>
    </message>
    <message>
        <source>How the model&apos;s weights are held in memory when it runs on a CPU, from its next load. The files on disk stay full precision; training and merging always use them.</source>
        <translation>模型在 CPU 上运行时权重在内存中的存放方式，下次加载时生效。磁盘上的文件始终保持全精度；训练和合并总是使用它们。</translation>
    </message>
    <message>
        <source>Full precision</source>
        <translation>全精度</translation>
    </message>
    <message>
        <source>int8: faster, quality nearly unchanged</source>
        <translation>int8：更快，质量几乎不变</translation>
    </message>
    <message>
        <source>int4: fastest and smallest, may lose a little more quality</source>
        <translation>int4：最快、最小，质量可能略有下降</translation>
    </message>
    <message>
        <source>Quantise for chat…</source>
        <translation>量化用于聊天…</translation>
    </message>
    <message>
        <source>Write a GGUF file beside this float model so it chats through llama.cpp: faster and in far less memory. The float weights stay for training and merging.</source>
        <translation>在此浮点模型旁写入一个 GGUF 文件，使其通过 llama.cpp 聊天：更快，且所需内存少得多。浮点权重保留，用于训练和合并。</translation>
    </message>
    <message>
        <source>Parameter breakdown</source>
        <translation>参数构成</translation>
    </message>
    <message>
        <source>Component</source>
        <translation>组件</translation>
    </message>
    <message>
        <source>Formula</source>
        <translation>公式</translation>
    </message>
    <message>
        <source>Parameters</source>
        <translation>参数量</translation>
    </message>
    <message>
        <source>{0}
damaged</source>
        <translation>{0}
已损坏</translation>
    </message>
    <message>
        <source>Library</source>
        <translation>模型库</translation>
    </message>
    <message>
        <source>Weights on a CPU (torch engine)</source>
        <translation>CPU 上的权重（torch 引擎）</translation>
    </message>
    <message>
        <source>No model selected</source>
        <translation>未选择模型</translation>
    </message>
    <message>
        <source>Import a model to get started.</source>
        <translation>导入一个模型即可开始。</translation>
    </message>
    <message>
        <source>in place</source>
        <translation>原位使用</translation>
    </message>
    <message>
        <source>copied</source>
        <translation>已复制</translation>
    </message>
    <message>
        <source>Architecture</source>
        <translation>架构</translation>
    </message>
    <message>
        <source>Context length</source>
        <translation>上下文长度</translation>
    </message>
    <message>
        <source>{0} tokens</source>
        <translation>{0} 词元</translation>
    </message>
    <message>
        <source>Imported from</source>
        <translation>导入来源</translation>
    </message>
    <message>
        <source>Weights</source>
        <translation>权重</translation>
    </message>
    <message>
        <source>SHA-256</source>
        <translation>SHA-256</translation>
    </message>
    <message>
        <source>Added</source>
        <translation>添加时间</translation>
    </message>
    <message>
        <source>Lineage</source>
        <translation>谱系</translation>
    </message>
    <message>
        <source>Chat engine</source>
        <translation>聊天引擎</translation>
    </message>
    <message>
        <source>token embeddings</source>
        <translation>词元嵌入</translation>
    </message>
    <message>
        <source>attention q_proj</source>
        <translation>注意力 q_proj</translation>
    </message>
    <message>
        <source>attention k_proj</source>
        <translation>注意力 k_proj</translation>
    </message>
    <message>
        <source>attention v_proj</source>
        <translation>注意力 v_proj</translation>
    </message>
    <message>
        <source>attention o_proj</source>
        <translation>注意力 o_proj</translation>
    </message>
    <message>
        <source>MLP gate_proj (SwiGLU)</source>
        <translation>MLP gate_proj（SwiGLU）</translation>
    </message>
    <message>
        <source>MLP up_proj (SwiGLU)</source>
        <translation>MLP up_proj（SwiGLU）</translation>
    </message>
    <message>
        <source>MLP down_proj</source>
        <translation>MLP down_proj</translation>
    </message>
    <message>
        <source>RMSNorms (input + post-attention)</source>
        <translation>RMSNorm（输入 + 注意力后）</translation>
    </message>
    <message>
        <source>final RMSNorm</source>
        <translation>最终 RMSNorm</translation>
    </message>
    <message>
        <source>LM head</source>
        <translation>输出层（LM head）</translation>
    </message>
    <message>
        <source>tied to token embeddings</source>
        <translation>与词元嵌入共享权重</translation>
    </message>
    <message>
        <source> × {0} layers</source>
        <translation> × {0} 层</translation>
    </message>
    <message>
        <source>equal ✔</source>
        <translation>一致 ✔</translation>
    </message>
    <message>
        <source>DIFFERENT ✘</source>
        <translation>不一致 ✘</translation>
    </message>
    <message>
        <source>&lt;b&gt;Total by formula:&lt;/b&gt; {0} &amp;nbsp; &lt;b&gt;Counted from weights:&lt;/b&gt; {1} ({2})&lt;br&gt;&lt;b&gt;Weights at each precision:&lt;/b&gt; {3}&lt;br&gt;&lt;b&gt;KV cache:&lt;/b&gt; {4} per token of context (bf16)</source>
        <translation>&lt;b&gt;按公式合计：&lt;/b&gt;{0} &amp;nbsp; &lt;b&gt;按权重统计：&lt;/b&gt;{1}（{2}）&lt;br&gt;&lt;b&gt;各精度下的权重：&lt;/b&gt;{3}&lt;br&gt;&lt;b&gt;KV 缓存：&lt;/b&gt;每个上下文词元 {4}（bf16）</translation>
    </message>
    <message>
        <source>Memory</source>
        <translation>内存</translation>
    </message>
    <message>
        <source>About {0}: fits in the {1} this computer has ✔</source>
        <translation>约 {0}：本机 {1} 内存足够 ✔</translation>
    </message>
    <message>
        <source>About {0}: more than the {1} this computer has can spare ✘</source>
        <translation>约 {0}：超出本机 {1} 内存所能腾出的量 ✘</translation>
    </message>
    <message>
        <source>About {0} for a LoRA with the default settings: fits ✔</source>
        <translation>默认设置下训练 LoRA 约需 {0}：内存足够 ✔</translation>
    </message>
    <message>
        <source>About {0} for a LoRA with the default settings: too much ✘; about {1} with smaller ones</source>
        <translation>默认设置下训练 LoRA 约需 {0}：内存不足 ✘；用更小的设置约需 {1}</translation>
    </message>
    <message>
        <source>About {0} for a LoRA with the default settings: too much, even with the smallest ✘</source>
        <translation>默认设置下训练 LoRA 约需 {0}：内存不足，最小的设置也不够 ✘</translation>
    </message>
    <message>
        <source>Memory to chat</source>
        <translation>聊天所需内存</translation>
    </message>
    <message>
        <source>Memory to train</source>
        <translation>训练所需内存</translation>
    </message>
    <message>
        <source>Saved; {0} uses the new setting from its next load.</source>
        <translation>已保存；{0} 下次加载时使用新设置。</translation>
    </message>
    <message>
        <source>q8_0: nearly the float quality, a quarter of fp32&apos;s size</source>
        <translation>q8_0：质量接近浮点，大小为 fp32 的四分之一</translation>
    </message>
    <message>
        <source>q4_1: smallest and fastest, loses a little quality</source>
        <translation>q4_1：最小最快，质量略有损失</translation>
    </message>
    <message>
        <source>q4_0: as small, loses a little more</source>
        <translation>q4_0：同样小，质量损失稍多</translation>
    </message>
    <message>
        <source>f16: float quality, half of fp32&apos;s size</source>
        <translation>f16：浮点质量，大小为 fp32 的一半</translation>
    </message>
    <message>
        <source>Quantise for chat</source>
        <translation>量化用于聊天</translation>
    </message>
    <message>
        <source>GGUF type:</source>
        <translation>GGUF 类型：</translation>
    </message>
    <message>
        <source>Writing a {0} GGUF of {1}…</source>
        <translation>正在写入 {1} 的 {0} GGUF…</translation>
    </message>
    <message>
        <source>{0} now chats through llama.cpp.</source>
        <translation>{0} 现在通过 llama.cpp 聊天。</translation>
    </message>
    <message>
        <source>Remove from library</source>
        <translation>从模型库移除</translation>
    </message>
    <message>
        <source>Remove model</source>
        <translation>移除模型</translation>
    </message>
    <message>
        <source>Remove &apos;{0}&apos; from the library? Its files in the library are deleted.</source>
        <translation>要从模型库移除“{0}”吗？它在模型库中的文件将被删除。</translation>
    </message>
    <message>
        <source>Choose a model folder</source>
        <translation>选择模型文件夹</translation>
    </message>
    <message>
        <source>Choose a GGUF file</source>
        <translation>选择 GGUF 文件</translation>
    </message>
    <message>
        <source>GGUF models (*.gguf)</source>
        <translation>GGUF 模型 (*.gguf)</translation>
    </message>
    <message>
        <source>Importing {0}…</source>
        <translation>正在导入 {0}…</translation>
    </message>
    <message>
        <source>Imported {0}.</source>
        <translation>已导入 {0}。</translation>
    </message>
</context>
<context>
    <name>PassageDialog</name>
    <message>
        <source>Passage [{0}]</source>
        <translation>段落 [{0}]</translation>
    </message>
    <message>
        <source>From {0}</source>
        <translation>来源：{0}</translation>
    </message>
    <message>
        <source>Open the file</source>
        <translation>打开文件</translation>
    </message>
</context>
<context>
    <name>PipelineGuide</name>
    <message>
        <source>Teach a model Chinese from plain text, bake that into a new model, then tune the new model on your own instructions. Each step fills in the form below; check it and press Start.</source>
        <translation>先用纯文本教模型学中文，再把它合并成新模型，然后用你自己的指令微调新模型。每一步都会填好下面的表单；检查后按“开始”。</translation>
    </message>
    <message>
        <source>Fill in step 1</source>
        <translation>填写第 1 步</translation>
    </message>
    <message>
        <source>Continued pre-training on a Chinese text corpus.</source>
        <translation>在中文文本语料上继续预训练。</translation>
    </message>
    <message>
        <source>Pre-trained adapter to merge</source>
        <translation>要合并的预训练适配器</translation>
    </message>
    <message>
        <source>Name of the merged model</source>
        <translation>合并后模型的名称</translation>
    </message>
    <message>
        <source>Merge</source>
        <translation>合并</translation>
    </message>
    <message>
        <source>Bake the adapter into a new complete model.</source>
        <translation>把适配器合并为一个新的完整模型。</translation>
    </message>
    <message>
        <source>Merged model to tune</source>
        <translation>要微调的合并模型</translation>
    </message>
    <message>
        <source>Fill in step 3</source>
        <translation>填写第 3 步</translation>
    </message>
    <message>
        <source>Instruction tuning on your private data, on top of the merged model.</source>
        <translation>在合并模型的基础上，用你的私有数据做指令微调。</translation>
    </message>
    <message>
        <source>&lt;b&gt;1&lt;/b&gt;</source>
        <translation>&lt;b&gt;1&lt;/b&gt;</translation>
    </message>
    <message>
        <source>&lt;b&gt;2&lt;/b&gt;</source>
        <translation>&lt;b&gt;2&lt;/b&gt;</translation>
    </message>
    <message>
        <source>&lt;b&gt;3&lt;/b&gt;</source>
        <translation>&lt;b&gt;3&lt;/b&gt;</translation>
    </message>
    <message>
        <source>✓ Trained the adapter {0}; merge it next.</source>
        <translation>✓ 已训练适配器 {0}；下一步请合并它。</translation>
    </message>
    <message>
        <source>✓ Trained {0}: choose it in the Chat panel&apos;s adapter list.</source>
        <translation>✓ 已训练 {0}：在对话面板的适配器列表中选择它。</translation>
    </message>
    <message>
        <source>✓ Created the model {0}; tune it in step 3.</source>
        <translation>✓ 已创建模型 {0}；请在第 3 步中微调它。</translation>
    </message>
</context>
<context>
    <name>PreparationBanner</name>
    <message>
        <source>Preparing the starter model for first use…</source>
        <translation>正在准备首次使用的入门模型…</translation>
    </message>
    <message>
        <source>Preparation progress</source>
        <translation>准备进度</translation>
    </message>
</context>
<context>
    <name>RatingBar</name>
    <message>
        <source>Rate this reply</source>
        <translation>为这条回复评分</translation>
    </message>
    <message>
        <source>Good reply</source>
        <translation>好回复</translation>
    </message>
    <message>
        <source>Bad reply</source>
        <translation>差回复</translation>
    </message>
    <message>
        <source>{0} of 5 stars</source>
        <translation>{0} 星（满分 5 星）</translation>
    </message>
    <message>
        <source>Note…</source>
        <translation>备注…</translation>
    </message>
    <message>
        <source>Note on this reply</source>
        <translation>对这条回复的备注</translation>
    </message>
    <message>
        <source>chosen</source>
        <translation>已选择</translation>
    </message>
    <message>
        <source> (press again to take back)</source>
        <translation>（再按一次可撤销）</translation>
    </message>
    <message>
        <source>Note ✓</source>
        <translation>备注 ✓</translation>
    </message>
</context>
<context>
    <name>RepliesDialog</name>
    <message>
        <source>Marks per variant, in the order below: ✔ exact match · ≈ answer contained · ✘ neither.</source>
        <translation>各变体的标记按下方顺序排列：✔ 完全匹配 · ≈ 包含答案 · ✘ 两者都不是。</translation>
    </message>
    <message>
        <source>Questions</source>
        <translation>题目数</translation>
    </message>
    <message>
        <source>Replies</source>
        <translation>回复</translation>
    </message>
    <message>
        <source>Question</source>
        <translation>问题</translation>
    </message>
    <message>
        <source>Expected</source>
        <translation>参考答案</translation>
    </message>
    <message>
        <source>(not asked)</source>
        <translation>（未提问）</translation>
    </message>
</context>
<context>
    <name>ReplyCycle</name>
    <message>
        <source>A reply is still being written; wait for it or press Stop (Esc).</source>
        <translation>回复仍在生成中；请等待完成或按停止（Esc）。</translation>
    </message>
    <message>
        <source>There is no model to answer: import one in the Models tab.</source>
        <translation>没有可以回答的模型：请在“模型”标签页中导入一个。</translation>
    </message>
    <message>
        <source>Type a message first.</source>
        <translation>请先输入消息。</translation>
    </message>
    <message>
        <source>Your first message is still waiting for the model; send this one after it.</source>
        <translation>你的第一条消息仍在等待模型；请在它得到回复后再发送这一条。</translation>
    </message>
    <message>
        <source>The model is not ready yet; your message will be answered then.</source>
        <translation>模型尚未就绪；就绪后会回复你的消息。</translation>
    </message>
    <message>
        <source>Editing your message: Send replaces it and the replies after it; Esc cancels.</source>
        <translation>正在编辑你的消息：发送会替换它及其后的回复；Esc 取消。</translation>
    </message>
    <message>
        <source>{0} Your message is kept: import a model in the Models tab, then press Regenerate.</source>
        <translation>{0} 你的消息已保留：请在“模型”标签页中导入模型，然后按“重新生成”。</translation>
    </message>
    <message>
        <source>{0} older messages did not fit the context window and were left out.</source>
        <translation>有 {0} 条较早的消息超出上下文窗口，已被省略。</translation>
    </message>
    <message>
        <source>{0} of the passages found did not fit the context window and were left out.</source>
        <translation>找到的段落中有 {0} 段放不进上下文窗口，已略去。</translation>
    </message>
    <message>
        <source>The reply reached the max new tokens limit.</source>
        <translation>回复达到了最大新词元数上限。</translation>
    </message>
</context>
<context>
    <name>RunDetailsDialog</name>
    <message>
        <source>Document</source>
        <translation>文档</translation>
    </message>
    <message>
        <source>Tokens</source>
        <translation>词元数</translation>
    </message>
    <message>
        <source>Perplexity</source>
        <translation>困惑度</translation>
    </message>
    <message>
        <source>NLL sum</source>
        <translation>NLL 总和</translation>
    </message>
    <message>
        <source>Subject</source>
        <translation>科目</translation>
    </message>
    <message>
        <source>Id</source>
        <translation>ID</translation>
    </message>
    <message>
        <source>Question</source>
        <translation>问题</translation>
    </message>
    <message>
        <source>Model&apos;s pick</source>
        <translation>模型的选择</translation>
    </message>
    <message>
        <source>Right answer</source>
        <translation>正确答案</translation>
    </message>
    <message>
        <source>Right</source>
        <translation>正确</translation>
    </message>
    <message>
        <source>Reply</source>
        <translation>回复</translation>
    </message>
    <message>
        <source>Exact</source>
        <translation>完全匹配</translation>
    </message>
    <message>
        <source>ROUGE-L</source>
        <translation>ROUGE-L</translation>
    </message>
    <message>
        <source>Contains</source>
        <translation>包含答案</translation>
    </message>
    <message>
        <source>Run</source>
        <translation>运行</translation>
    </message>
    <message>
        <source>Run {0} · {1}</source>
        <translation>运行 {0} · {1}</translation>
    </message>
    <message>
        <source>Items</source>
        <translation>条目</translation>
    </message>
    <message>
        <source>The selected item</source>
        <translation>所选条目</translation>
    </message>
    <message>
        <source>Select a row to read it in full.</source>
        <translation>选择一行即可查看完整内容。</translation>
    </message>
    <message>
        <source>Run:</source>
        <translation>运行：</translation>
    </message>
    <message>
        <source>Variant</source>
        <translation>变体</translation>
    </message>
    <message>
        <source>Data</source>
        <translation>数据</translation>
    </message>
    <message>
        <source>Settings</source>
        <translation>设置</translation>
    </message>
    <message>
        <source>Result</source>
        <translation>结果</translation>
    </message>
    <message>
        <source>Expected</source>
        <translation>参考答案</translation>
    </message>
</context>
<context>
    <name>RunList</name>
    <message>
        <source>created</source>
        <translation>已创建</translation>
    </message>
    <message>
        <source>running</source>
        <translation>运行中</translation>
    </message>
    <message>
        <source>stopped</source>
        <translation>已停止</translation>
    </message>
    <message>
        <source>done</source>
        <translation>已完成</translation>
    </message>
    <message>
        <source>failed</source>
        <translation>失败</translation>
    </message>
    <message>
        <source>interrupted</source>
        <translation>已中断</translation>
    </message>
    <message>
        <source>Run</source>
        <translation>运行</translation>
    </message>
    <message>
        <source>Kind</source>
        <translation>类型</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>状态</translation>
    </message>
    <message>
        <source>Steps</source>
        <translation>步数</translation>
    </message>
    <message>
        <source>Adapter</source>
        <translation>适配器</translation>
    </message>
    <message>
        <source>Past runs</source>
        <translation>过往运行</translation>
    </message>
</context>
<context>
    <name>RunMonitor</name>
    <message>
        <source>Training progress</source>
        <translation>训练进度</translation>
    </message>
    <message>
        <source>Loss</source>
        <translation>损失</translation>
    </message>
    <message>
        <source>step</source>
        <translation>步</translation>
    </message>
    <message>
        <source>loss</source>
        <translation>损失</translation>
    </message>
    <message>
        <source>Loss and evaluation loss appear here as the job runs.</source>
        <translation>任务运行时，损失和评估损失会显示在这里。</translation>
    </message>
    <message>
        <source>Training log</source>
        <translation>训练日志</translation>
    </message>
    <message>
        <source>Starting the training process…</source>
        <translation>正在启动训练进程…</translation>
    </message>
    <message>
        <source>Stopping… (the last checkpoint is kept)</source>
        <translation>正在停止…（保留上一个检查点）</translation>
    </message>
    <message>
        <source>Training done; comparing answers before and after…</source>
        <translation>训练完成；正在比较训练前后的回答…</translation>
    </message>
    <message>
        <source>step %v of %m</source>
        <translation>第 %v 步，共 %m 步</translation>
    </message>
    <message>
        <source>{0} optimizer steps on {1}; about {2} of memory.</source>
        <translation>在 {1} 上进行 {0} 个优化步；约需 {2} 内存。</translation>
    </message>
    <message>
        <source>loss {0:.4f}</source>
        <translation>损失 {0:.4f}</translation>
    </message>
    <message>
        <source>eval {0:.4f}</source>
        <translation>评估 {0:.4f}</translation>
    </message>
    <message>
        <source>{0:,.0f} tokens/s</source>
        <translation>{0:,.0f} 词元/秒</translation>
    </message>
    <message>
        <source>ETA {0}</source>
        <translation>预计剩余 {0}</translation>
    </message>
    <message>
        <source>memory {0}</source>
        <translation>内存 {0}</translation>
    </message>
    <message>
        <source>No job running</source>
        <translation>没有正在运行的任务</translation>
    </message>
    <message>
        <source>Stopped; Resume continues from step {0}.</source>
        <translation>已停止；“继续”会从第 {0} 步接着训练。</translation>
    </message>
    <message>
        <source>Stopped before the first checkpoint; Resume starts again from the beginning.</source>
        <translation>在第一个检查点之前就已停止；“继续”会从头开始训练。</translation>
    </message>
    <message>
        <source>Done: the adapter {0} is in the library.</source>
        <translation>完成：适配器 {0} 已在模型库中。</translation>
    </message>
    <message>
        <source>Stopped: {0}</source>
        <translation>已停止：{0}</translation>
    </message>
    <message>
        <source>eval loss</source>
        <translation>评估损失</translation>
    </message>
    <message>
        <source>, resuming after step {0}</source>
        <translation>，从第 {0} 步之后继续</translation>
    </message>
    <message>
        <source>Started: {0} steps over {1} examples on {2}{3}.</source>
        <translation>已开始：{0} 步，{1} 个样本，在 {2} 上{3}。</translation>
    </message>
    <message>
        <source>The data has no validation split, so there is no eval loss.</source>
        <translation>数据没有验证集，因此没有评估损失。</translation>
    </message>
    <message>
        <source>step {0}/{1}  loss {2:.4f}  lr {3:.2e}</source>
        <translation>第 {0}/{1} 步  损失 {2:.4f}  学习率 {3:.2e}</translation>
    </message>
    <message>
        <source>{0} tokens/s</source>
        <translation>{0} 词元/秒</translation>
    </message>
    <message>
        <source>step {0}  eval loss {1:.4f}</source>
        <translation>第 {0} 步  评估损失 {1:.4f}</translation>
    </message>
    <message>
        <source>Checkpoint saved at step {0}.</source>
        <translation>已在第 {0} 步保存检查点。</translation>
    </message>
    <message>
        <source>Measuring what the run learnt: the base and the adapter answer the same examples.</source>
        <translation>正在衡量本次训练学到了什么：基础模型和适配器回答相同的样本。</translation>
    </message>
    <message>
        <source>Stopped after step {0}; Resume continues from there.</source>
        <translation>已在第 {0} 步后停止；“继续”会从那里接着训练。</translation>
    </message>
    <message>
        <source>Error: {0}</source>
        <translation>错误：{0}</translation>
    </message>
</context>
<context>
    <name>SamplingFields</name>
    <message>
        <source>0 always picks the likeliest token (greedy)</source>
        <translation>0 表示总是选择最可能的词元（贪心）</translation>
    </message>
    <message>
        <source>off</source>
        <translation>关闭</translation>
    </message>
    <message>
        <source>random</source>
        <translation>随机</translation>
    </message>
    <message>
        <source>Temperature</source>
        <translation>温度</translation>
    </message>
    <message>
        <source>Temperature:</source>
        <translation>温度：</translation>
    </message>
    <message>
        <source>Top-p</source>
        <translation>Top-p</translation>
    </message>
    <message>
        <source>Top-p:</source>
        <translation>Top-p：</translation>
    </message>
    <message>
        <source>Top-k</source>
        <translation>Top-k</translation>
    </message>
    <message>
        <source>Top-k:</source>
        <translation>Top-k：</translation>
    </message>
    <message>
        <source>Repetition penalty</source>
        <translation>重复惩罚</translation>
    </message>
    <message>
        <source>Repetition penalty:</source>
        <translation>重复惩罚：</translation>
    </message>
    <message>
        <source>Max new tokens</source>
        <translation>最大新词元数</translation>
    </message>
    <message>
        <source>Max new tokens:</source>
        <translation>最大新词元数：</translation>
    </message>
    <message>
        <source>Seed</source>
        <translation>随机种子</translation>
    </message>
    <message>
        <source>Seed:</source>
        <translation>随机种子：</translation>
    </message>
</context>
<context>
    <name>SamplingPanel</name>
    <message>
        <source>System prompt</source>
        <translation>系统提示词</translation>
    </message>
    <message>
        <source>Optional: how the assistant should behave</source>
        <translation>可选：助手应当如何表现</translation>
    </message>
    <message>
        <source>System prompt:</source>
        <translation>系统提示词：</translation>
    </message>
    <message>
        <source>Sampling:</source>
        <translation>采样：</translation>
    </message>
</context>
<context>
    <name>ServerDialog</name>
    <message>
        <source>Local server</source>
        <translation>本地服务器</translation>
    </message>
    <message>
        <source>Other programs on this computer (editors, notebooks, scripts) can use your models through OpenAI&apos;s API: give them the address below as the base URL and a model&apos;s name, or MODEL@ADAPTER for an adapter.</source>
        <translation>这台电脑上的其他程序（编辑器、Notebook、脚本）可以通过 OpenAI 的 API 使用你的模型：把下面的地址作为 base URL 提供给它们，并填写模型名称；要使用适配器，请填写 MODEL@ADAPTER。</translation>
    </message>
    <message>
        <source>Let other computers on the network connect</source>
        <translation>允许网络中的其他电脑连接</translation>
    </message>
    <message>
        <source>Anyone on your network who has the key can then use your models and adapters; your documents and chats stay here.</source>
        <translation>这样，网络中任何持有密钥的人都能使用你的模型和适配器；你的文档和对话仍只留在这台电脑上。</translation>
    </message>
    <message>
        <source>required for other computers</source>
        <translation>其他电脑连接时必填</translation>
    </message>
    <message>
        <source>New key</source>
        <translation>生成密钥</translation>
    </message>
    <message>
        <source>Port:</source>
        <translation>端口：</translation>
    </message>
    <message>
        <source>API key:</source>
        <translation>API 密钥：</translation>
    </message>
    <message>
        <source>Copy</source>
        <translation>复制</translation>
    </message>
    <message>
        <source>Stop the server</source>
        <translation>停止服务器</translation>
    </message>
    <message>
        <source>Start the server</source>
        <translation>启动服务器</translation>
    </message>
    <message>
        <source>this computer only</source>
        <translation>仅限这台电脑</translation>
    </message>
    <message>
        <source>other computers too (with the key)</source>
        <translation>这台电脑以及其他电脑（需密钥）</translation>
    </message>
    <message>
        <source>Running; reachable from {0}.</source>
        <translation>正在运行；可访问范围：{0}。</translation>
    </message>
    <message>
        <source>Off: nothing listens.</source>
        <translation>已关闭：未监听任何连接。</translation>
    </message>
    <message>
        <source>Other computers need an API key: type one or press New key.</source>
        <translation>其他电脑需要 API 密钥：请输入一个，或按“生成密钥”。</translation>
    </message>
</context>
<context>
    <name>SettingsDialog</name>
    <message>
        <source>Settings</source>
        <translation>设置</translation>
    </message>
    <message>
        <source>General</source>
        <translation>常规</translation>
    </message>
    <message>
        <source>Data folder</source>
        <translation>数据文件夹</translation>
    </message>
    <message>
        <source>Choose…</source>
        <translation>选择…</translation>
    </message>
    <message>
        <source>Choose the data folder</source>
        <translation>选择数据文件夹</translation>
    </message>
    <message>
        <source>Data folder:</source>
        <translation>数据文件夹：</translation>
    </message>
    <message>
        <source>LLAMADESK_HOME is set, so this run uses {0} whatever is chosen here.</source>
        <translation>已设置 LLAMADESK_HOME，因此本次运行使用 {0}，不受此处选择的影响。</translation>
    </message>
    <message>
        <source>Models, chats and runs live here. A change takes effect at the next start.</source>
        <translation>模型、对话和训练任务都保存在这里。更改将在下次启动时生效。</translation>
    </message>
    <message>
        <source>Default model</source>
        <translation>默认模型</translation>
    </message>
    <message>
        <source>The latest conversation&apos;s model</source>
        <translation>最近一次对话所用的模型</translation>
    </message>
    <message>
        <source>Default model:</source>
        <translation>默认模型：</translation>
    </message>
    <message>
        <source>Theme</source>
        <translation>主题</translation>
    </message>
    <message>
        <source>Follow the system</source>
        <translation>跟随系统</translation>
    </message>
    <message>
        <source>Light</source>
        <translation>浅色</translation>
    </message>
    <message>
        <source>Dark</source>
        <translation>深色</translation>
    </message>
    <message>
        <source>Theme:</source>
        <translation>主题：</translation>
    </message>
    <message>
        <source>Language</source>
        <translation>语言</translation>
    </message>
    <message>
        <source>Language:</source>
        <translation>语言：</translation>
    </message>
    <message>
        <source>A new language shows from the next start.</source>
        <translation>新的界面语言将在下次启动时生效。</translation>
    </message>
    <message>
        <source>Running models</source>
        <translation>运行模型</translation>
    </message>
    <message>
        <source>Device</source>
        <translation>设备</translation>
    </message>
    <message>
        <source>Automatic (fastest available)</source>
        <translation>自动（选用最快的设备）</translation>
    </message>
    <message>
        <source>CPU</source>
        <translation>CPU</translation>
    </message>
    <message>
        <source>Device:</source>
        <translation>设备：</translation>
    </message>
    <message>
        <source>Number format</source>
        <translation>数值格式</translation>
    </message>
    <message>
        <source>Automatic (suits the device)</source>
        <translation>自动（按设备选择）</translation>
    </message>
    <message>
        <source>Number format:</source>
        <translation>数值格式：</translation>
    </message>
    <message>
        <source>CPU threads</source>
        <translation>CPU 线程数</translation>
    </message>
    <message>
        <source>automatic</source>
        <translation>自动</translation>
    </message>
    <message>
        <source>CPU threads:</source>
        <translation>CPU 线程数：</translation>
    </message>
    <message>
        <source>Threads apply at once; device and number format from the next model loaded.</source>
        <translation>线程数立即生效；设备和数值格式从下一次加载模型时生效。</translation>
    </message>
    <message>
        <source>New conversations start with</source>
        <translation>新对话的默认设置</translation>
    </message>
</context>
<context>
    <name>TaskBar</name>
    <message>
        <source>Progress</source>
        <translation>进度</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>取消</translation>
    </message>
    <message>
        <source>Another operation is running; wait for it or cancel it.</source>
        <translation>另一个操作正在进行；请等待它完成或取消它。</translation>
    </message>
    <message>
        <source>Cancelling…</source>
        <translation>正在取消…</translation>
    </message>
</context>
<context>
    <name>TrainView</name>
    <message>
        <source>Guided: Chinese model → merge → private SFT</source>
        <translation>引导：中文模型 → 合并 → 私有 SFT</translation>
    </message>
    <message>
        <source>Runs</source>
        <translation>运行</translation>
    </message>
    <message>
        <source>(select one to see its curves)</source>
        <translation>（选择一个查看其曲线）</translation>
    </message>
    <message>
        <source>A job is running; cancel it or wait for it to finish.</source>
        <translation>有任务正在运行；请取消它或等待完成。</translation>
    </message>
    <message>
        <source>Preparing the job…</source>
        <translation>正在准备任务…</translation>
    </message>
    <message>
        <source>The job would not fit in memory; see the suggestion.</source>
        <translation>该任务内存不足；请查看建议。</translation>
    </message>
    <message>
        <source>Training {0}…</source>
        <translation>正在训练 {0}…</translation>
    </message>
    <message>
        <source>Re-attached to the running job {0}.</source>
        <translation>已重新连接到正在运行的任务 {0}。</translation>
    </message>
    <message>
        <source>Training finished: the adapter {0} is in the library.</source>
        <translation>训练完成：适配器 {0} 已在模型库中。</translation>
    </message>
    <message>
        <source>Training stopped; the last checkpoint was kept.</source>
        <translation>训练已停止；已保留上一个检查点。</translation>
    </message>
    <message>
        <source>The training job stopped.</source>
        <translation>训练任务已停止。</translation>
    </message>
    <message>
        <source>Add a Chinese text corpus first: drop documents on the left.</source>
        <translation>请先添加中文文本语料：把文档拖到左侧。</translation>
    </message>
    <message>
        <source>Step 1 is filled in: check the settings and press Start.</source>
        <translation>第 1 步已填好：检查设置后按“开始”。</translation>
    </message>
    <message>
        <source>Merge the pre-trained adapter first (step 2).</source>
        <translation>请先合并预训练适配器（第 2 步）。</translation>
    </message>
    <message>
        <source>Add instruction data first: drop a JSONL file or use Edit instructions…</source>
        <translation>请先添加指令数据：拖入 JSONL 文件或使用“编辑指令…”</translation>
    </message>
    <message>
        <source>Step 3 is filled in: check the settings and press Start.</source>
        <translation>第 3 步已填好：检查设置后按“开始”。</translation>
    </message>
    <message>
        <source>Merging {0} into {1}…</source>
        <translation>正在把 {0} 合并为 {1}…</translation>
    </message>
    <message>
        <source>Created the model {0}.</source>
        <translation>已创建模型 {0}。</translation>
    </message>
</context>
<context>
    <name>Transcript</name>
    <message>
        <source>Copy code</source>
        <translation>复制代码</translation>
    </message>
    <message>
        <source>Transcript</source>
        <translation>对话记录</translation>
    </message>
    <message>
        <source>Ask anything. Everything stays on this computer.</source>
        <translation>随便问。所有内容都留在这台电脑上。</translation>
    </message>
    <message>
        <source>writing…</source>
        <translation>正在生成…</translation>
    </message>
    <message>
        <source>You</source>
        <translation>你</translation>
    </message>
    <message>
        <source>Copy</source>
        <translation>复制</translation>
    </message>
    <message>
        <source>Edit</source>
        <translation>编辑</translation>
    </message>
    <message>
        <source>Rate</source>
        <translation>评分</translation>
    </message>
    <message>
        <source>Regenerate</source>
        <translation>重新生成</translation>
    </message>
    <message>
        <source> · stopped</source>
        <translation> · 已停止</translation>
    </message>
    <message>
        <source>{0} tokens/s</source>
        <translation>{0} 词元/秒</translation>
    </message>
    <message>
        <source>Sources:</source>
        <translation>来源：</translation>
    </message>
    <message>
        <source>note</source>
        <translation>备注</translation>
    </message>
</context>
<context>
    <name>WelcomeDialog</name>
    <message>
        <source>Welcome to LlamaDesk</source>
        <translation>欢迎使用 LlamaDesk</translation>
    </message>
    <message>
        <source>Import a model in the Models tab to start chatting.</source>
        <translation>请先在“模型”页导入一个模型，然后就可以开始对话。</translation>
    </message>
    <message>
        <source>{0} is ready: a small instruction model with {1} million parameters and room for {2} tokens of conversation. It runs entirely on this computer; nothing you type leaves it.</source>
        <translation>{0} 已就绪：这是一个小型指令模型，有 {1} 百万个参数，对话上下文可容纳 {2} 个词元。它完全在这台电脑上运行，你输入的任何内容都不会离开这台电脑。</translation>
    </message>
    <message>
        <source>Try a first prompt:</source>
        <translation>试试第一个提示：</translation>
    </message>
    <message>
        <source>Explain in three sentences what a large language model is.</source>
        <translation>用三句话解释什么是大语言模型。</translation>
    </message>
    <message>
        <source>Use the suggested prompt</source>
        <translation>使用建议的提示</translation>
    </message>
    <message>
        <source>Puts this prompt in the chat&apos;s message box</source>
        <translation>把这条提示放进对话的输入框</translation>
    </message>
    <message>
        <source>Then make it yours:</source>
        <translation>然后按你的需要定制：</translation>
    </message>
    <message>
        <source>Import a model</source>
        <translation>导入模型</translation>
    </message>
    <message>
        <source>Bring in any Llama-family model you have.</source>
        <translation>导入你已有的任何 Llama 系列模型。</translation>
    </message>
    <message>
        <source>Adapters</source>
        <translation>适配器</translation>
    </message>
    <message>
        <source>Add LoRA adapters and switch between them.</source>
        <translation>添加 LoRA 适配器并在它们之间切换。</translation>
    </message>
    <message>
        <source>Train</source>
        <translation>训练</translation>
    </message>
    <message>
        <source>Teach a model your documents or questions.</source>
        <translation>用你的文档或问答来训练模型。</translation>
    </message>
    <message>
        <source>Evaluate</source>
        <translation>评估</translation>
    </message>
    <message>
        <source>Measure and compare models and adapters.</source>
        <translation>衡量并比较模型和适配器。</translation>
    </message>
</context>
<context>
    <name>_Chart</name>
    <message>
        <source>No data yet</source>
        <translation>暂无数据</translation>
    </message>
</context>
<context>
    <name>app</name>
    <message>
        <source>Something went wrong: {0}

Details are in {1}.</source>
        <translation>出错了：{0}

详细信息见 {1}。</translation>
    </message>
</context>
<context>
    <name>kinds</name>
    <message>
        <source>pre-training</source>
        <translation>继续预训练</translation>
    </message>
    <message>
        <source>SFT</source>
        <translation>指令微调</translation>
    </message>
    <message>
        <source>imported</source>
        <translation>导入</translation>
    </message>
</context>
<context>
    <name>tasks</name>
    <message>
        <source>Unexpected error: {0}. Details are in {1}.</source>
        <translation>意外错误：{0}。详细信息见 {1}。</translation>
    </message>
</context>
<context>
    <name>train_process</name>
    <message>
        <source>The training process could not be started ({0}).</source>
        <translation>无法启动训练进程（{0}）。</translation>
    </message>
    <message>
        <source>The training process ended unexpectedly (exit code {0}); Resume continues from the last checkpoint.</source>
        <translation>训练进程意外结束（退出码 {0}）；“继续”会从上一个检查点接着训练。</translation>
    </message>
    <message>
        <source>The training process ended unexpectedly; Resume continues from the last checkpoint.</source>
        <translation>训练进程意外结束；“继续”会从上一个检查点接着训练。</translation>
    </message>
</context>
<context>
    <name>train_view</name>
    <message>
        <source>An adapter named &apos;{0}&apos; already exists; choose another name.</source>
        <translation>已有名为“{0}”的适配器；请换一个名称。</translation>
    </message>
</context>
</TS>
