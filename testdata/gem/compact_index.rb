# Writes the compact index (versions, names, info/NAME) for gems/*.gem in the format rubygems.org
# serves (https://guides.rubygems.org/rubygems-org-compact-index-api/), and `etags`.
require "digest"
require "rubygems/package"
require "fileutils"

specs = Dir["gems/*.gem"].map { |f| [Gem::Package.new(f).spec, Digest::SHA256.file(f).hexdigest] }
specs.sort_by! { |s, _| [s.name, s.version, s.platform.to_s] }
by_name = specs.group_by { |s, _| s.name }.sort
FileUtils.mkdir_p("info")
etags = []
info_md5 = {}
by_name.each do |name, list|
  lines = ["---"]
  list.each do |s, sha|
    token = s.platform.to_s == "ruby" ? s.version.to_s : "#{s.version}-#{s.platform}"
    deps = s.runtime_dependencies.sort_by(&:name).map do |d|
      "#{d.name}:#{d.requirement.requirements.map { |op, v| "#{op} #{v}" }.sort.join('&')}"
    end
    reqs = ["checksum:#{sha}"]
    reqs << "ruby:#{s.required_ruby_version}" unless s.required_ruby_version.none?
    reqs << "rubygems:#{s.required_rubygems_version}" unless s.required_rubygems_version.none?
    lines << "#{token} #{deps.join(',')}|#{reqs.join(',')}"
  end
  body = lines.join("\n") + "\n"
  File.binwrite("info/#{name}", body)
  info_md5[name] = Digest::MD5.hexdigest(body)
  etags << ["info/#{name}", info_md5[name]]
end
versions = "created_at: 2024-01-01T00:00:00Z\n---\n"
by_name.each do |name, list|
  tokens = list.map { |s, _| s.platform.to_s == "ruby" ? s.version.to_s : "#{s.version}-#{s.platform}" }
  versions << "#{name} #{tokens.join(',')} #{info_md5[name]}\n"
end
File.binwrite("versions", versions)
names = "---\n" + by_name.map { |n, _| "#{n}\n" }.join
File.binwrite("names", names)
etags << ["versions", Digest::MD5.hexdigest(versions)] << ["names", Digest::MD5.hexdigest(names)]
File.binwrite("etags", etags.sort.map { |p, m| "#{p} \"#{m}\"\n" }.join)
