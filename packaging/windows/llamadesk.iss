; Inno Setup 6 script for the Windows installer (not run in this repository's CI: it needs Windows).
; First build the one-folder app on Windows:  pyinstaller --noconfirm packaging\llamadesk.spec
; then compile from the repository root:      iscc /DAppVersion=0.1.0 packaging\windows\llamadesk.iss
; Output: dist\LlamaDesk-<version>-windows-x64-setup.exe
;
; Installed per user by default (no administrator rights needed, like the models and chats, which
; live in the user's data folder anyway); the user may choose an all-users install instead.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif

[Setup]
AppId={{6F1C2B5E-8E4A-4B7D-9C31-2D5A7E0B4F19}
AppName=LlamaDesk
AppVersion={#AppVersion}
AppPublisher=LlamaDesk
DefaultDirName={autopf}\LlamaDesk
DefaultGroupName=LlamaDesk
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
Compression=lzma2
SolidCompression=yes
SourceDir=..\..
OutputDir=dist
OutputBaseFilename=LlamaDesk-{#AppVersion}-windows-x64-setup
UninstallDisplayIcon={app}\LlamaDesk.exe
; Drawn from resources/icons/llamadesk.svg by packaging/app_icons.py when the spec builds the app.
SetupIconFile=build\icons\llamadesk.ico
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "dist\LlamaDesk\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\LlamaDesk"; Filename: "{app}\LlamaDesk.exe"
Name: "{autodesktop}\LlamaDesk"; Filename: "{app}\LlamaDesk.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\LlamaDesk.exe"; Description: "{cm:LaunchProgram,LlamaDesk}"; Flags: nowait postinstall skipifsilent
